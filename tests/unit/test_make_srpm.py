"""git2srpm's core in-process: a commit and its spec into a reproducible SRPM through the spec's sandbox and
a sandboxed `rpmbuild -bs` (the real ones), twice to the same bytes; the refusals that leave nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from altai_release.core.errors import InputError
from altai_release.rpm.readback import payload_files
from altai_release.sources.srpm_from_git import SrpmRequest, make_srpm
from unitlib import commit_all, git

SPEC = """\
Name: hello
Version: 0.3
Release: 2%{?dist}
Summary: a greeting
License: MIT
BuildArch: noarch
Source0: %{name}-%{version}.tar.gz
Source1: hello.conf
%description
Says hello.
%prep
%setup -q
%install
install -D -m 0644 hello.txt %{buildroot}/usr/share/hello/hello.txt
%files
/usr/share/hello
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    top = tmp_path_factory.mktemp("hello")
    git(top, "init", "-q", "-b", "main")
    (top / "hello").mkdir()
    (top / "hello" / "hello.spec").write_text(SPEC)
    (top / "hello" / "hello.conf").write_text("greeting = hello\n")
    (top / "hello" / "hello.txt").write_text("hello\n")
    (top / "unrelated.txt").write_text("x\n")
    commit_all(top, "hello", 1_700_000_000)
    (top / "unrelated.txt").write_text("y\n")
    head = commit_all(top, "elsewhere", 1_700_000_500)
    return top, head


@pytest.mark.sandbox
def test_an_srpm_of_a_commit_twice_to_the_same_bytes(package, tmp_path):
    top, head = package
    request = SrpmRequest(str(top), subdir="hello", spec="hello/hello.spec", outdir=tmp_path / "a", dist=".el6")
    first = make_srpm(request)
    assert first.srpm.name == "hello-0.3-2.el6.src.rpm"
    assert first.commit == head
    assert first.commit_time == 1_700_000_000  # the package's last change, not the repository's
    assert set(first.named_files) == {"hello/hello.conf"}
    files = {name: data for name, _, data in payload_files(first.srpm)}
    assert set(files) == {"hello.spec", "hello-0.3.tar.gz", "hello.conf"}
    assert first.tarball is not None
    assert files["hello-0.3.tar.gz"] == first.tarball.read_bytes()
    listed = subprocess.run(["tar", "-tzf", str(first.tarball)], check=True, capture_output=True, text=True).stdout
    assert sorted(listed.split()) == [
        "hello-0.3/",
        "hello-0.3/hello.conf",
        "hello-0.3/hello.spec",
        "hello-0.3/hello.txt",
    ]
    again = make_srpm(SrpmRequest(str(top), subdir="hello", outdir=tmp_path / "b", dist=".el6", keep_tarball=False))
    assert again.srpm.read_bytes() == first.srpm.read_bytes()
    assert again.tarball is None


@pytest.mark.sandbox
@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"ref": "--upload-pack=x"}, "ref"),
        ({"ref": "nope"}, "unknown ref 'nope'"),
        ({"subdir": "../up"}, "subdir"),
        ({"subdir": "missing"}, "no directory 'missing'"),
        ({"spec": "hello/none.spec"}, "hello/none.spec"),
    ],
)
def test_a_refused_request_leaves_nothing(package, tmp_path, change, said):
    top, _ = package
    outdir = tmp_path / "deep" / "out"
    with pytest.raises(InputError, match=said):
        make_srpm(SrpmRequest(**{"repo": str(top), "subdir": "hello", "outdir": outdir, **change}))
    assert not (tmp_path / "deep").exists()
