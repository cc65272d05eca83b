"""What crosses from a sandbox to the host: results taken as regular files only, without following a link,
within bounds, and then checked for what they claim to be (the spec's SRPM, binaries of that SRPM)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from altai_release.core.errors import BuildError, InputError
from altai_release.rpm.nevra import Nevra
from altai_release.sandbox.beneath import Unsafe, copy_out, entries, read_bytes
from altai_release.sandbox.output import check_binaries, check_srpm, read_text, take_files


def results(root: Path) -> Path:
    (root / "RPMS" / "noarch").mkdir(parents=True)
    (root / "RPMS" / "noarch" / "a-1-1.noarch.rpm").write_bytes(b"a")
    (root / "RPMS" / "noarch" / "a-debuginfo-1-1.noarch.rpm").write_bytes(b"d")
    (root / "RPMS" / "b-1-1.noarch.rpm").write_bytes(b"b")
    (root / "RPMS" / "notes.txt").write_text("not a result")
    (root / "RPMS" / "deep" / "deeper").mkdir(parents=True)
    (root / "RPMS" / "deep" / "deeper" / "c-1-1.noarch.rpm").write_bytes(b"c")
    return root


def test_results_are_taken_as_regular_files(tmp_path):
    root = results(tmp_path / "sandbox")
    taken = take_files(root, "RPMS", ".rpm", tmp_path / "host", 1024, skip="-debuginfo-1-1.noarch.rpm")
    assert [p.name for p in taken] == ["a-1-1.noarch.rpm", "b-1-1.noarch.rpm"]  # one level down, no deeper
    assert (tmp_path / "host" / "a-1-1.noarch.rpm").read_bytes() == b"a"


@pytest.mark.parametrize("hostile", ["link", "fifo", "twice", "large", "dir-link"])
def test_a_hostile_result_is_refused_and_nothing_is_read_through_it(tmp_path, hostile):
    root = results(tmp_path / "sandbox")
    secret = tmp_path / "secret.rpm"
    secret.write_bytes(b"host file")
    rpms = root / "RPMS"
    if hostile == "link":
        os.symlink(secret, rpms / "z.rpm")
        said = "a symbolic link, not a file"
    elif hostile == "fifo":
        os.mkfifo(rpms / "z.rpm")
        said = "a FIFO, not a file"
    elif hostile == "twice":
        (rpms / "x86_64").mkdir()
        (rpms / "x86_64" / "b-1-1.noarch.rpm").write_bytes(b"b")
        said = "more than one result of that name"
    elif hostile == "large":
        (rpms / "z.rpm").write_bytes(b"z" * 2048)
        said = "over the limit of 1024"
    else:
        shutil.rmtree(rpms)
        os.symlink(tmp_path, rpms)
        said = "a link or not a directory"
    with pytest.raises(Unsafe, match=said):
        take_files(root, "RPMS", ".rpm", tmp_path / "host", 1024)
    assert not (tmp_path / "host" / "secret.rpm").exists()


def test_one_file_read_or_copied_beneath_a_root(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "build.log").write_text("built\n")
    os.symlink("/etc/passwd", tmp_path / "logs" / "passwd")
    assert read_text(tmp_path, "logs/build.log", 100) == "built\n"
    assert read_bytes(tmp_path, "logs/build.log", 100) == b"built\n"
    assert copy_out(tmp_path, "logs/build.log", tmp_path / "copy", 100).read_text() == "built\n"
    for bad, said in (("logs/passwd", "symbolic link"), ("../x", "not a path inside"), ("/etc/passwd", "not a path")):
        with pytest.raises(Unsafe, match=said):
            read_bytes(tmp_path, bad, 100)
    with pytest.raises(Unsafe, match="over the limit of 3 bytes"):
        read_text(tmp_path, "logs/build.log", 3)
    assert entries(tmp_path, "logs") == {
        "build.log": (tmp_path / "logs" / "build.log").stat().st_mode,
        "passwd": (tmp_path / "logs" / "passwd").lstat().st_mode,
    }
    assert entries(tmp_path, "nowhere") is None


def test_the_srpm_and_binaries_are_what_the_spec_makes(releases, tmp_path):
    top, manifest = releases["1.0"]
    srpm = next(top / e.path for e in manifest.entries if e.arch == "src")
    binary = next(top / e.path for e in manifest.entries if e.arch != "src")
    expected = Nevra("tool", None, "1.0", "1.el6", "src")
    check_srpm(srpm, expected, "tool.spec")
    with pytest.raises(InputError, match="a binary package"):
        check_srpm(binary, expected, "tool.spec")
    with pytest.raises(InputError, match="not the spec's"):
        check_srpm(srpm, Nevra("tool", None, "2.0", "1.el6", "src"), "tool.spec")
    renamed = tmp_path / "other-1.0-1.el6.src.rpm"
    shutil.copyfile(srpm, renamed)
    with pytest.raises(InputError, match="not named after"):
        check_srpm(renamed, expected, "tool.spec")
    assert check_binaries([binary], srpm, ["tool"], "the build") == [binary]
    with pytest.raises(BuildError, match="not a package of tool-1.0-1.el6.src.rpm"):
        check_binaries([binary], srpm, ["other"], "the build")
    with pytest.raises(BuildError, match="returned no binary package"):
        check_binaries([], srpm, ["tool"], "the build")
    top11, manifest11 = releases["1.1"]
    newer = next(top11 / e.path for e in manifest11.entries if e.arch != "src")
    with pytest.raises(BuildError, match="from tool-1.1-1.el6.src.rpm"):
        check_binaries([newer], srpm, ["tool"], "the build")
