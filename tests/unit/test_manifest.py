"""manifest.json: the differences between two releases."""

from __future__ import annotations

from altai_release.rpm.manifest import Manifest
from altai_release.rpm.manifestdiff import diff
from altai_testlib import manifest_entry as entry


def test_manifest_diff_kinds():
    old = Manifest("altai", "1", [entry("a", "1"), entry("b", "2"), entry("c", "1"), entry("d", "1")])
    new = Manifest(
        "altai", "2", [entry("a", "1.10"), entry("b", "1.9"), entry("c", "1", header="other"), entry("e", "1")]
    )
    assert [(c.kind, c.name, c.old, c.new) for c in diff(old, new)] == [
        ("upgraded", "a", "1-1", "1.10-1"),
        ("downgraded", "b", "2-1", "1.9-1"),
        ("rebuilt", "c", "1-1", "1-1"),
        ("removed", "d", "1-1", None),
        ("added", "e", None, "1-1"),
    ]


def test_a_rebuilt_dependent_says_what_it_was_rebuilt_for_once():
    from dataclasses import replace

    why = "rebuilt for libaltai-devel 2.0-1.el6"
    old = Manifest("altai", "1", [entry("app", "1"), entry("tool", "1")])
    new = Manifest("altai", "2", [replace(entry("app", "1", release="1.1"), rebuilt_for=why), entry("tool", "1")])
    (change,) = diff(old, new)
    assert (change.kind, change.rebuilt_for) == ("upgraded", why)
    assert str(change).endswith(f"1-1 -> 1-1.1 ({why})")
    # the next release that keeps the rebuild changes nothing about it
    assert diff(new, new) == []


def test_key_changes_name_the_layout_key_and_its_ids():
    from dataclasses import replace

    from altai_release.rpm.manifestdiff import KeyChange, key_changes

    old = Manifest("altai", "1", [entry("a", "1"), replace(entry("b", "1"), signer="epel", signer_keyid="E")])
    rotated = Manifest("altai", "1", [replace(e, signer_keyid="K2") if e.signer == "altai" else e for e in old.entries])
    assert key_changes(old, old) == []
    assert key_changes(old, rotated) == [KeyChange("altai", ("k",), ("k2",))]
    assert str(key_changes(old, rotated)[0]) == "key         altai: k -> k2"
    # a key that signs in one release only is not a rotation
    assert key_changes(Manifest("altai", "1"), rotated) == []


def test_manifest_keeps_its_release_id_and_time_and_refuses_bad_ones(tmp_path):
    import json

    import pytest
    from altai_release.core.errors import InputError

    stamped = Manifest("altai", "1", [entry("a", "1")], "20261130T120000-abc", "2026-11-30T12:00:00Z")
    path = tmp_path / "manifest.json"
    path.write_text(stamped.to_json())
    loaded = Manifest.load(path)
    assert (loaded.id, loaded.published) == (stamped.id, stamped.published)
    assert loaded.same_as(Manifest("altai", "1", [entry("a", "1")]))  # id and time aside
    data = json.loads(path.read_text())
    del data["id"], data["published"]  # a manifest of an older release has neither
    path.write_text(json.dumps(data))
    assert Manifest.load(path).id is None
    path.write_text(json.dumps({**data, "published": 5}))
    with pytest.raises(InputError, match="published: expected null or a non-empty string, found 5"):
        Manifest.load(path)


def test_the_compose_metadata_arch_comes_from_the_release_not_a_constant():
    """TREE_ARCH was "x86_64" whatever the release held."""
    import os
    from dataclasses import replace

    from altai_release.release.publish.compose_metadata import tree_arches

    arm = Manifest("altai", "1", [replace(entry("a", "1"), arch="aarch64"), replace(entry("b", "1"), arch="noarch")])
    assert tree_arches(arm, "epel-6-x86_64") == ["aarch64"]
    noarch = Manifest("altai", "1", [replace(entry("b", "1"), arch="noarch"), replace(entry("b", "1"), arch="src")])
    assert tree_arches(noarch, "epel-6-ppc64le") == ["ppc64le"]
    assert tree_arches(noarch, "my-own-chroot") == [os.uname().machine]
