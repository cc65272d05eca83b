"""The pure logic, fast (no rpmbuild, no gpg, no git): build order, the snapshot suffix, pins and EVR
order, manifest differences, the release policy's rules, layout errors and the reason a tool gives."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from altai_release.errors import InputError, PublishError
from altai_release.evr import Pin, highest, parse_pin
from altai_release.layout import load_layout
from altai_release.manifest import Manifest, ManifestEntry, diff
from altai_release.nevra import Nevra
from altai_release.release_policy import NewFile, check_downgrade
from altai_release.runner import reason
from altai_release.scheduler import build_order, run_in_order, run_pipeline
from altai_release.srpm import add_release_suffix, snapshot_suffix

# -- scheduling -------------------------------------------------------------------------------------------


def test_build_order_follows_build_requires_between_packages_of_the_run():
    provides = {"app": ["app"], "lib": ["lib", "lib-devel", "libfoo.so.1"], "tool": ["tool"]}
    requires = {"app": ["lib-devel", "python3"], "lib": ["gcc"], "tool": ["libfoo.so.1", "app"]}
    assert build_order(provides, requires) == {"app": {"lib"}, "lib": set(), "tool": {"lib", "app"}}


def test_build_order_names_a_cycle():
    with pytest.raises(InputError, match="cycle between packages: a -> b -> c -> a"):
        build_order({"a": ["a"], "b": ["b"], "c": ["c"]}, {"a": ["b"], "b": ["c"], "c": ["a"]})


def test_run_pipeline_starts_a_dependent_once_its_dependency_is_built_not_finished():
    import threading

    finishing = threading.Event()
    release_finish = threading.Event()
    events: list[str] = []

    def work(name: str) -> str:
        if name == "app":
            assert finishing.wait(10)  # lib's finish has started...
            assert not release_finish.is_set()  # ...and has not ended: the build did not wait for it
            events.append("app built while lib finishes")
            release_finish.set()
        return name.upper()

    def finish(name: str, built: str) -> str:
        if name == "lib":
            finishing.set()
            assert release_finish.wait(10)
        return f"{built}+signed"

    assert run_pipeline({"lib": set(), "app": {"lib"}}, 1, work, finish, 1) == {
        "lib": "LIB+signed",
        "app": "APP+signed",
    }
    assert events == ["app built while lib finishes"]


def test_run_pipeline_stops_at_a_failure_to_finish():
    import threading

    aborted = threading.Event()
    started: list[str] = []

    def work(name: str) -> str:
        started.append(name)
        if name == "b":
            assert aborted.wait(10)  # a build still running when the run fails is told to stop
        return name

    def finish(name: str, built: str) -> str:
        raise InputError(f"{name}: signing failed")

    with pytest.raises(InputError, match="a: signing failed"):
        run_pipeline({"a": set(), "b": {"a"}, "c": {"b"}}, 1, work, finish, 1, aborted.set)
    assert aborted.is_set()
    assert "c" not in started  # b was running (or not yet started) when a failed to finish: c never starts


def test_run_in_order_runs_dependencies_first_and_stops_at_a_failure():
    seen: list[str] = []

    def work(name: str) -> str:
        seen.append(name)
        if name == "bad":
            raise InputError("bad failed")
        return name.upper()

    assert run_in_order({"a": set(), "b": {"a"}, "c": {"b"}}, 2, work) == {"a": "A", "b": "B", "c": "C"}
    assert seen == ["a", "b", "c"]
    seen.clear()
    with pytest.raises(InputError, match="bad failed"):
        run_in_order({"bad": set(), "after": {"bad"}}, 2, work)
    assert seen == ["bad"]  # what depends on a failed build never starts


# -- snapshot suffix --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Release: 1%{?dist}", "Release: 1.git.12.abcdef1%{?dist}"),
        ("Release:   3%{dist}", "Release:   3.git.12.abcdef1%{dist}"),
        ("release: 2", "release: 2.git.12.abcdef1"),
    ],
)
def test_release_suffix_goes_before_dist(line, expected):
    suffix = snapshot_suffix(12, "abcdef1234567")
    assert add_release_suffix(f"Name: x\n{line}\n", suffix, "x.spec") == f"Name: x\n{expected}\n"


def test_release_suffix_needs_a_release_line():
    with pytest.raises(Exception, match="no Release: line"):
        add_release_suffix("Name: x\n", ".git.1.abc", "x.spec")


# -- pins and EVR order -----------------------------------------------------------------------------------


def test_pins_parse_and_match():
    assert parse_pin("fping") == Pin("fping", None)
    assert parse_pin(" fping = 3.10-1.el6 ") == Pin("fping", "3.10-1.el6")
    assert parse_pin("fping =") is None and parse_pin("two words") is None
    nevra = Nevra("fping", 1, "3.10", "1.el6", "x86_64")
    assert Pin("fping", "1:3.10-1.el6").matches(nevra) and Pin("fping", "3.10-1.el6").matches(nevra)
    assert not Pin("fping", "3.10-2.el6").matches(nevra) and not Pin("other", None).matches(nevra)


def test_highest_uses_rpm_order_not_string_order():
    versions = [Nevra("x", None, v, "1", "noarch") for v in ("1.9", "1.10", "1.10~rc1")]
    assert highest(versions, lambda n: n) == versions[1]
    assert highest([], lambda n: n) is None


# -- manifests --------------------------------------------------------------------------------------------


def entry(name: str, version: str, release: str = "1", header: str = "h", repository: str = "centos6") -> ManifestEntry:
    return ManifestEntry(
        repository=repository,
        path=f"{repository}/{name}-{version}-{release}.noarch.rpm",
        origin=name,
        name=name,
        epoch=None,
        version=version,
        release=release,
        arch="noarch",
        sha256="s",
        header_sha256=header,
        signer="altai",
        signer_keyid="k",
    )


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


# -- layouts ----------------------------------------------------------------------------------------------

LAYOUT = """\
[release]
name = "altai"
version = "1"
mock_chroot = "epel-6-x86_64"

[keys.altai]
id = "Altai"

[repositories.centos6]
path = "centos6"
signed_by = "altai"
content = "own"
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[packages.x]\ngit = "/r"\nrepository = "nope"\n', "packages.x.repository: 'nope' is not a repository"),
        ('[packages.x]\ngit = "-x"\nrepository = "centos6"\n', "packages.x.git: expected a path or URL"),
        (
            '[packages.x]\nrepository = "centos6"\n',
            "packages.x: expected exactly one of git (a repository with a spec) or srpm",
        ),
        ('[packages.x]\ngit = "/r"\nrepository = "centos6"\ncolour = 1\n', "packages.x.colour: unknown key"),
        ('[repositories.other]\npath = "../up"\nsigned_by = "altai"\ncontent = "own"\n', "relative path inside"),
        ('[repositories.other]\npath = "o"\nsigned_by = "k2"\ncontent = "own"\n', "'k2' is not a key"),
        (
            '[upstreams.u]\nurl = "ftp://x"\nkey = "altai"\nrepository = "centos6"\npackages = ["a"]\n',
            "expected an http",
        ),
    ],
)
def test_layout_errors_name_the_key_and_what_was_expected(tmp_path, extra, message):
    layout = tmp_path / "altai.toml"
    layout.write_text(LAYOUT + textwrap.dedent(extra))
    with pytest.raises(InputError) as caught:
        load_layout(layout)
    assert str(caught.value).startswith(f"{layout}: ") and message in str(caught.value)


# -- what a tool says went wrong --------------------------------------------------------------------------


def test_reason_picks_the_line_that_says_why():
    rpm_out = (
        "Executing(%build)\nerror: Bad exit status from /var/tmp/x (%build)\n\n"
        "RPM build errors:\n    Bad exit status from /var/tmp/x (%build)\n"
    )
    assert reason(rpm_out, ("error:", "Bad exit status"), after="RPM build errors:", last=True) == (
        "Bad exit status from /var/tmp/x (%build)"
    )
    git_out = "Cloning into 'x'...\nfatal: unable to access 'u': refused\n"
    assert reason(git_out, ("fatal:",)) == "unable to access 'u': refused"
    assert reason("just one line\n", ("error:",)) == "just one line"
    assert reason("", ("error:",)) == ""


def test_a_koji_builds_cache_key_names_its_hub_profile_and_target():
    from dataclasses import replace

    from altai_release.buildcache import inputs_key
    from altai_release.kojiconfig import KojiSettings

    layout = load_layout()
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
