"""What a change reaches: stale kept packages by their recorded build roots, the rebuild policy, the rounds,
the Release bump of a rebuilt dependent and of a later change of its own (the logic, without a build)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from altai_release.core.errors import BadSpecError
from altai_release.release.run import reach
from altai_release.release.run.results import PackageResult
from altai_release.rpm.manifest import Manifest
from altai_release.rpm.nevra import Nevra
from altai_release.signing.assignment import SigningIdentity
from altai_release.specfile.rebuildspec import Rebuild, add_rebuild
from altai_testlib import manifest_entry
from unitlib import LAYOUT

SIGNER = SigningIdentity("altai", "F" * 40, None, True)  # type: ignore[arg-type]  # no keyring is used


def root(*packages: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"nevra": n, "digest": d, "repository": r} for n, d, r in packages]


def result(name: str, release: str = "1.el6", build_root=(), rebuilt_for=None, base=None) -> PackageResult:
    return PackageResult(
        name=name,
        repository="centos6",
        source=Nevra(name, None, "1", release, "src"),
        commit="c",
        builder="cached",
        seconds=0.0,
        signed_by=SIGNER,
        build_root=list(build_root),
        rebuilt_for=rebuilt_for,
        built_by={"config_sha256": base} if base else {},
    )


def layout(policy: str = "transitive", on_base: bool = False):
    return replace(LAYOUT, buildroot=replace(LAYOUT.buildroot, rebuild=policy, rebuild_on_base_change=on_base))


LIB_THEN = ("libaltai-devel-1.2-1.el6.x86_64", "aa", "centos6")
NOW = {
    "libaltai-devel": reach.Now("libaltai-devel-2.0-1.el6.x86_64", "bb", 1_700_000_000),
    "bash": reach.Now("bash-5-1.x86_64", "", 0),
}


def test_a_kept_package_is_stale_by_the_release_packages_of_its_root_only():
    app = result("nova-fping", build_root=root(LIB_THEN, ("bash-4-1.x86_64", "cc", "base")))
    assert reach.differences(app, NOW) == ["libaltai-devel 1.2-1.el6 -> 2.0-1.el6"]
    same = {"libaltai-devel": reach.Now("libaltai-devel-1.2-1.el6.x86_64", "aa", 0)}
    assert reach.differences(app, same) == []
    # the same NEVRA with other bytes is a change; a package no longer of the release is not
    other_bytes = {"libaltai-devel": reach.Now("libaltai-devel-1.2-1.el6.x86_64", "zz", 0)}
    assert reach.differences(app, other_bytes) == ["libaltai-devel 1.2-1.el6 -> 1.2-1.el6"]
    assert reach.differences(app, {}) == []


def test_the_policy_and_the_base_decide_what_is_reached(caplog):
    kept = {"nova-fping": result("nova-fping", build_root=root(LIB_THEN), base="old")}
    changed = {"libaltai": result("libaltai")}
    assert reach.reached(layout(), kept, changed, NOW) == {"nova-fping": ["libaltai-devel 1.2-1.el6 -> 2.0-1.el6"]}
    assert reach.reached(layout("local"), kept, changed, NOW) == {}
    assert reach.reached(layout(), kept, {}, NOW) == {}  # nothing changed this round
    assert reach.reached(layout("local"), kept, changed, NOW, "new") == {}
    on_base = reach.reached(layout("local", on_base=True), kept, changed, NOW, "new" * 10)
    assert on_base == {"nova-fping": ["the build root's base old -> newnewnewnew"]}
    with caplog.at_level(logging.WARNING):
        reach.warn_base_change(kept, "new")
        reach.warn_base_change(kept, None)
    assert caplog.text.count("the build root's base changed since 1 kept package(s) were built (nova-fping)") == 1


def test_a_rebuild_counts_on_from_the_published_rebuild_and_is_dated_by_what_changed():
    why = ["libaltai-devel 1.2-1.el6 -> 2.0-1.el6"]
    first = reach.rebuild_of(result("nova-fping"), why, NOW)
    assert (first.counter, first.when, first.summary) == (1, 1_700_000_000, "rebuilt for libaltai-devel 2.0-1.el6")
    again = reach.rebuild_of(result("nova-fping", "1.el6.3", rebuilt_for="rebuilt for x"), why, NOW)
    assert again.counter == 4


def test_dependents_are_the_published_packages_built_against_the_release():
    fping = replace(manifest_entry("nova-fping", "1"), origin="nova-fping", build_root=root(LIB_THEN))
    notifier = replace(manifest_entry("instance-notifier", "1"), build_root=root(("bash-5-1.x86_64", "", "base")))
    published = Manifest("altai", "1", [fping, notifier])
    assert reach.dependents(LAYOUT, published) == ["nova-fping"]
    assert reach.dependents(layout("local"), published) == []
    assert reach.dependents(LAYOUT, None) == []


def test_rounds_rebuild_each_reached_package_once_and_stop(tmp_path):
    """instance-notifier needs nova-fping, which needs the changed library: two rounds under `transitive`,
    one under `direct`; each rebuilt package leaves the kept ones."""
    fping_root = root(("libaltai-devel-1.2-1.el6.x86_64", "aa", "centos6"))
    notifier_root = root(("nova-fping-1-1.el6.noarch", "", "centos6"))
    manifest = Manifest(
        "altai",
        "1",
        [
            replace(manifest_entry("libaltai-devel", "2.0", "1.el6"), arch="x86_64"),
            replace(manifest_entry("nova-fping", "1", "1.el6"), build_root=fping_root),
        ],
    )
    calls: list[list[str]] = []

    def build(entries, rebuilds):
        calls.append(sorted(rebuilds))
        return {e.name: result(e.name) for e in entries}  # no files: nothing more reaches from them

    for policy, rounds in (("transitive", [["nova-fping"]]), ("direct", [["nova-fping"]])):
        calls.clear()
        kept = {"nova-fping": result("nova-fping", build_root=fping_root)}
        kept["instance-notifier"] = result("instance-notifier", build_root=notifier_root)
        built = reach.rebuild_reached(
            layout(policy), build, tmp_path / policy, {"libaltai": result("libaltai")}, kept, manifest, None
        )
        assert calls == rounds
        assert sorted(built) == ["libaltai", "nova-fping"]
        assert list(kept) == ["instance-notifier"]  # its root's nova-fping is as published: not reached
    assert reach.rebuild_reached(LAYOUT, None, tmp_path, {}, {}, manifest, None) == {}


class _Source:
    def __init__(self, name: str) -> None:
        self.name = name
        self.rebuild: Rebuild | None = None

    def for_rebuild(self, rebuild: Rebuild) -> _Source:
        made = _Source(self.name)
        made.rebuild = rebuild
        return made


class _Made:
    def __init__(self, release: str, version: str = "1") -> None:
        self.nevra = Nevra("nova-fping", None, version, release, "src")
        self.commit_time = 1_700_000_000


def test_an_own_change_below_the_published_rebuild_continues_its_bump():
    published = Manifest(
        "altai", "1", [replace(manifest_entry("nova-fping", "1", "2.el6.3"), arch="src", origin="nova-fping")]
    )
    remade = []

    def remake(source):
        remade.append(source.rebuild)
        return _Made(f"2.el6.{source.rebuild.counter}")

    for made, expected in (
        (_Made("2.el6"), 4),
        (_Made("3.el6"), None),
        (_Made("1.el6"), None),
        (_Made("2.el6", "0"), None),
    ):
        sources: dict = {"nova-fping": _Source("nova-fping")}
        srpms: dict = {"nova-fping": made}
        bumped = reach.keep_above_rebuilds(sources, srpms, published, remake)
        if expected is None:
            assert bumped == {}
        else:
            assert bumped["nova-fping"].counter == expected
            assert bumped["nova-fping"].summary == "its own change, kept above the release's rebuild 1-2.el6.3"
            assert srpms["nova-fping"].nevra.release == "2.el6.4"
    assert len(remade) == 1
    assert reach.keep_above_rebuilds({}, {}, None, remake) == {}


SPEC = """\
Name: app
Version: 1
Release: 2%{?dist}
Summary: s
License: MIT
%description
d
%changelog
* Mon Jan 01 2024 A <a@example.com> - 1-2
- first
"""


def test_a_rebuild_bumps_the_release_and_adds_a_changelog_entry_above_the_others():
    rebuild = Rebuild(2, ("libaltai-devel 1.2-1.el6 -> 2.0-1.el6", "bash"), 1_700_000_000)
    text = add_rebuild(SPEC, rebuild, "app.spec")
    assert "Release: 2%{?dist}.2\n" in text
    entry = "* Tue Nov 14 2023 Altai release tooling <release@altai.example> - %{version}-%{release}\n"
    assert f"%changelog\n{entry}- Rebuilt for libaltai-devel 2.0-1.el6\n- Rebuilt for bash\n\n* Mon Jan 01" in text
    assert rebuild.summary == "rebuilt for libaltai-devel 2.0-1.el6, bash"
    without = add_rebuild(SPEC.split("%changelog")[0], replace(rebuild, above="1-2.el6.1"), "app.spec")
    assert without.endswith(
        "\n%changelog\n" + entry + "- Its own change, released above the release's rebuild 1-2.el6.1\n\n"
    )
    with pytest.raises(BadSpecError, match="app.spec: no Release: line"):
        add_rebuild("Name: app\n", rebuild, "app.spec")


def test_explain_says_what_a_change_reaches_under_the_policy():
    from altai_release.cli.explain import build_root_facts

    lib = replace(manifest_entry("libaltai-devel", "1.2", "1.el6"), origin="libaltai")
    app = replace(manifest_entry("altai-app", "1"), build_root=root(LIB_THEN), rebuilt_for="rebuilt for x")
    tool = replace(manifest_entry("altai-tool", "1"), build_root=root(("altai-app-1-1.noarch", "", "centos6")))
    published = Manifest("altai", "1", [lib, app, tool])
    assert build_root_facts(layout(), "libaltai", published)["reaches"] == ["altai-app", "altai-tool"]
    assert build_root_facts(layout("direct"), "libaltai", published)["reaches"] == ["altai-app"]
    assert build_root_facts(layout("local"), "libaltai", published)["reaches"] == []
    facts = build_root_facts(layout(), "altai-app", published)
    assert (facts["published_against"], facts["rebuilt_for"]) == (["libaltai-devel-1.2-1.el6.x86_64"], "rebuilt for x")
    assert build_root_facts(layout(), "nova-fping", None)["published_against"] is None
