"""The release policy: a downgrade only when the layout names it."""

from __future__ import annotations

from pathlib import Path

import pytest
from altai_release.core.errors import PublishError
from altai_release.release.publish.policy import NewFile, check_downgrade
from altai_release.rpm.manifest import Manifest
from altai_release.rpm.nevra import Nevra
from altai_testlib import manifest_entry as entry


def test_downgrade_needs_the_layout_to_name_it():
    previous = Manifest("altai", "1", [entry("a", "2")])
    lower = Nevra("a", None, "1", "1", "noarch")
    item = NewFile(Path("a.rpm"), "centos6", "a", "altai")
    with pytest.raises(PublishError, match='allow_downgrade_to = "1-1"'):
        check_downgrade(previous, item, lower)
    assert check_downgrade(previous, NewFile(Path("a.rpm"), "centos6", "a", "altai", "1-1"), lower) == "2-1"
    assert check_downgrade(previous, item, Nevra("a", None, "3", "1", "noarch")) is None
    # another repository has its own history
    assert check_downgrade(previous, NewFile(Path("a.rpm"), "misc", "a", "altai"), lower) is None


def test_a_change_below_the_releases_rebuild_names_the_spec_to_raise():
    from dataclasses import replace

    rebuilt = replace(entry("app", "1", release="2.el6.1"), rebuilt_for="rebuilt for lib 2-1")
    own = Nevra("app", None, "1", "2.el6", "noarch")
    with pytest.raises(PublishError, match=r"the release's rebuild of it \(rebuilt for lib 2-1\); raise the Release"):
        check_downgrade(Manifest("altai", "1", [rebuilt]), NewFile(Path("app.rpm"), "centos6", "app", "altai"), own)


def test_a_package_dropped_from_the_layout_is_said_whether_kept_or_left_out(caplog):
    from altai_release.release.publish.policy import plan_release
    from unitlib import LAYOUT

    previous = Manifest("altai", "1", [entry("gone", "1")])
    kept = plan_release(LAYOUT, previous, [], set())
    assert [e.name for e in kept.manifest.entries] == ["gone"]
    assert "gone: no longer in the layout altai.toml, kept in the release" in caplog.text
    caplog.clear()
    dropped = plan_release(LAYOUT, previous, [], set(), complete=True)
    assert dropped.manifest.entries == []
    assert "gone: no longer in the layout altai.toml: left out of the release" in caplog.text
