"""srpm2git's unpacking of a tarball that is not ours, member by member: what it writes, and each member it
refuses (absolute, '..', a link that leaves, a device, a `.git`, more than the budget) with nothing
written through a link."""

from __future__ import annotations

import io
import os
import tarfile
from typing import Literal

import pytest
from altai_release.core.errors import InputError
from altai_release.sources.srpm_unpack import Budget, UnpackLimits, is_git_dir, payload, unpack

# Python's tarfile data filter (PEP 706) is what every member passes: a Python without it (Debian 12's
# 3.11.2, as the tool's RPM finds it in the host-derived base) is refused in one line, tested below
needs_filter = pytest.mark.skipif(not hasattr(tarfile, "data_filter"), reason="this Python has no tarfile data filter")


def test_a_python_without_the_data_filter_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    with pytest.raises(InputError, match=r"x.tar.gz: unpacking it needs Python's tarfile data filter \(PEP 706"):
        unpack(tmp_path, b"", "x.tar.gz", Budget(UnpackLimits(1 << 20, 1 << 20), "x.tar.gz"))


def tarball(*members: tuple[str, str, bytes | str], mode: Literal["w:gz", "w:xz"] = "w:gz") -> bytes:
    """(name, kind, data or link target) members under the top directory `top/`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name if name.startswith(("/", "..")) else f"top/{name}")
            if kind == "file":
                assert isinstance(data, bytes)
                info.size, info.mode = len(data), 0o755 if name.endswith(".sh") else 0o644
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "sym": tarfile.SYMTYPE,
                "hard": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
                "chr": tarfile.CHRTYPE,
            }[kind]
            if kind in ("sym", "hard"):
                info.linkname = str(data)
            tar.addfile(info)
    return out.getvalue()


def budget(member: int = 1 << 20, total: int = 1 << 22) -> Budget:
    return Budget(UnpackLimits(member, total), "x.src.rpm")


@needs_filter
def test_a_plain_tree_is_written_without_its_top_and_its_git(tmp_path):
    data = tarball(
        ("dir", "dir", b""),
        ("dir/a.txt", "file", b"a"),
        ("run.sh", "file", b"#!/bin/sh\n"),
        ("dir/link", "sym", "a.txt"),
        ("copy", "hard", "top/dir/a.txt"),
        (".git/config", "file", b"[core]\n\tfsmonitor = evil\n"),
        ("sub/.GIT./hooks/x", "file", b"evil"),
        mode="w:xz",
    )
    dropped = unpack(tmp_path, data, "x.tar.xz", budget())
    assert dropped == {".git", "sub/.GIT."}
    assert (tmp_path / "dir" / "a.txt").read_bytes() == b"a"
    assert os.readlink(tmp_path / "dir" / "link") == "a.txt"
    assert (tmp_path / "copy").read_bytes() == b"a"
    assert not (tmp_path / "copy").is_symlink()
    assert (tmp_path / "run.sh").stat().st_mode & 0o777 == 0o755
    assert not (tmp_path / ".git").exists()
    assert not (tmp_path / "sub").exists()


@needs_filter
@pytest.mark.parametrize(
    ("members", "said"),
    [
        ((("/etc/passwd", "file", b"x"),), "absolute or with '..'"),
        ((("../up", "file", b"x"),), "absolute or with '..'"),
        ((("out", "sym", "../../etc"),), "leaves the repository"),
        ((("out", "sym", "/etc"),), "leaves the repository"),
        ((("a", "sym", "b"), ("b", "sym", "../..")), "leaves the repository"),
        ((("dev", "chr", b""),), "x.tar.gz: top/dev"),
        ((("pipe", "fifo", b""),), "is a special file"),
        ((("a", "file", b"1"), ("a", "file", b"2")), "is there twice"),
        ((("l", "sym", "d"), ("d", "dir", b""), ("l/x", "file", b"1")), "l is there twice"),
        ((("h", "hard", "top/nothing"),), "which is no file before it"),
        ((("big", "file", b"x" * 2048),), "more than one file may"),
    ],
)
def test_a_member_that_would_leave_or_lie_is_refused(tmp_path, members, said):
    outside = tmp_path / "outside"
    outside.mkdir()
    top = tmp_path / "top"
    top.mkdir()
    with pytest.raises(InputError, match=said):
        unpack(top, tarball(*members), "x.tar.gz", budget(member=1024))
    assert list(outside.iterdir()) == []


@needs_filter
def test_the_budget_counts_every_file(tmp_path):
    data = tarball(*[(f"f{i}", "file", b"x" * 600) for i in range(4)])
    with pytest.raises(InputError, match="unpacks to more than 2000 bytes"):
        unpack(tmp_path, data, "x.tar.gz", budget(member=1000, total=2000))
    with pytest.raises(InputError, match="not a tar archive"):
        unpack(tmp_path / "n", b"not a tarball at all", "x.tar.gz", budget())
    with pytest.raises(InputError, match="a broken tar archive"):
        unpack(tmp_path / "m", tarball(("f", "file", os.urandom(5000)))[:2000], "x.tar.gz", budget())


def test_git_refuses_these_names():
    for name in (".git", ".GIT", ".git.", ".git ", "git~1"):
        assert is_git_dir(name)
    for name in (".github", "git", ".gitignore"):
        assert not is_git_dir(name)


def test_payload_names_the_spec(releases):
    top, manifest = releases["1.0"]
    srpm = next(e for e in manifest.entries if e.arch == "src")
    files, spec = payload(top / srpm.path, budget())
    assert spec == "tool-1.0.spec"
    assert set(files) == {"tool-1.0.spec"}
    with pytest.raises(InputError, match="tool-1.0.spec holds [0-9]+ bytes, more than 10"):
        payload(top / srpm.path, budget(member=10))
