"""What a package of the release may publish (issue 53): only names it owns, whatever their case, with the
`-debuginfo` and `-debugsource` rpm names after a source package; no `Provides:` or `Obsoletes:` of another
origin's name; never the same file as another package of the run; and a published EVR never comes back with
other bytes under another spelling (`Epoch: 0`, `01`), as rpm compares them. Packages made by rpmbuild."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from altai_release.core.errors import PublishError
from altai_release.release.publish.policy import NewFile, plan_release
from altai_release.rpm.manifest import Manifest
from unitlib import LAYOUT

SPEC = """\
Name: {name}
{epoch}Version: {version}
Release: 1
Summary: a test package
License: MIT
BuildArch: noarch
{extra}
%description
A test package.
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {content} > %{{buildroot}}/usr/share/{name}/content
%files
/usr/share/{name}
"""


def rpm(work: Path, name: str, version: str = "1", *, epoch: str = "", extra: str = "", content: str = "a") -> Path:
    """A noarch package made by rpmbuild, in a directory of its own."""
    top = work / f"{name}-{version}-{epoch}-{content}-{abs(hash(extra))}"
    spec = top / f"{name}.spec"
    top.mkdir(parents=True)
    text = SPEC.format(
        name=name, version=version, epoch=f"Epoch: {epoch}\n" if epoch else "", extra=extra, content=content
    )
    spec.write_text(text)
    argv = ["rpmbuild", "--quiet", "-bb", "--define", f"_topdir {top}", "--define", "__python3 %{nil}", str(spec)]
    subprocess.run(argv, check=True, capture_output=True)
    (built,) = (top / "RPMS").rglob("*.rpm")
    return built


def added(path: Path, origin: str) -> NewFile:
    return NewFile(path, "centos6", origin, "altai")


def published(*files: tuple[Path, str]) -> Manifest:
    plan = plan_release(LAYOUT, Manifest("altai", "1"), [added(p, o) for p, o in files], set())
    return plan.manifest


def test_a_published_evr_under_another_spelling_with_other_bytes_is_refused(tmp_path):
    current = published((rpm(tmp_path, "tool", "1"), "tool"))
    for other in (rpm(tmp_path, "tool", "1", epoch="0", content="b"), rpm(tmp_path, "tool", "01", content="c")):
        with pytest.raises(PublishError, match=r"tool-.*1-1.noarch is already published in centos6 with other content"):
            plan_release(LAYOUT, current, [added(other, "tool")], {"tool"})
    higher = rpm(tmp_path, "tool", "2", content="d")
    assert [e.version for e in plan_release(LAYOUT, current, [added(higher, "tool")], {"tool"}).manifest.entries] == [
        "2"
    ]


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("nova-fping-debuginfo", "named like the layout's package nova-fping"),
        ("instance-notifier-debugsource", "named like the layout's package instance-notifier"),
        ("Nova-Fping", "named like the layout's package nova-fping"),
        ("ALTAI-RELEASE", "named like the layout's package altai-release"),
    ],
)
def test_names_of_another_package_in_any_case_or_as_its_debuginfo_are_refused(tmp_path, name, said):
    with pytest.raises(PublishError, match=said):
        published((rpm(tmp_path, name), "evil"))


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ("Obsoletes: altai-release", "which obsoletes altai-release, a name of altai-release"),
        ("Provides: nova-fping = 9", "which provides nova-fping, a name of nova-fping"),
        ("Obsoletes: Instance-Notifier < 9", "which obsoletes Instance-Notifier, a name of instance-notifier"),
        ("Provides: helper", "which provides helper, a name of helper-origin"),
    ],
)
def test_provides_and_obsoletes_of_another_origins_name_are_refused(tmp_path, extra, said):
    with pytest.raises(PublishError, match=said):
        published((rpm(tmp_path, "helper"), "helper-origin"), (rpm(tmp_path, "evil", extra=extra), "evil"))


def test_own_and_virtual_names_may_be_provided(tmp_path):
    extra = "Provides: evil-compat = 1\nProvides: config(evil) = 1\nObsoletes: evil-old < 1"
    assert [e.name for e in published((rpm(tmp_path, "evil", extra=extra), "evil")).entries] == ["evil"]


def test_two_packages_of_one_run_making_one_file_are_refused_naming_both(tmp_path):
    one, other = rpm(tmp_path, "common", content="one"), rpm(tmp_path, "common", content="other")
    with pytest.raises(PublishError, match=r"^first and second both make common-1-1.noarch.rpm"):
        published((one, "first"), (other, "second"))
