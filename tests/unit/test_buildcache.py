"""The build cache's key: what a package is built from, and with."""

from __future__ import annotations

from altai_release.layout import load_layout
from altai_testlib import SHIPPED_LAYOUT


def test_a_koji_builds_cache_key_names_its_hub_profile_and_target():
    from dataclasses import replace

    from altai_release.layout.koji_table import KojiSettings
    from altai_release.release.run.buildcache import inputs_key

    layout = load_layout(SHIPPED_LAYOUT)
    entry = layout.packages["nova-fping"]
    keys = {
        inputs_key({"tree": "t"}, entry, replace(layout, koji=KojiSettings("altai", target, False)), "koji", "F")
        for target in ("altai-1.0-el6", "altai-1.1-el6")
    }
    assert len(keys) == 2
    local = inputs_key({"tree": "t"}, entry, layout, "rpmbuild", "F")
    assert local == inputs_key(
        {"tree": "t"}, entry, replace(layout, koji=KojiSettings("x", "y", True)), "rpmbuild", "F"
    )
