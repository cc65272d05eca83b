"""The reproducible tarball of a git tree against `git archive` of the same tree: the same members with the
same bytes (export-ignore and export-subst applied as git applies them), our fixed owner, times and modes,
and the same bytes twice."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

import pytest
from altai_release.core.errors import InputError
from altai_release.git import GitSource
from altai_release.sources.tarball import SourceTarball, TarballStopped, compression_for
from unitlib import ENV


def members(data: bytes) -> dict[str, tuple[str, bytes | str]]:
    found: dict[str, tuple[str, bytes | str]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            kind = "dir" if m.isdir() else "link" if m.issym() else "file"
            content: bytes | str = m.linkname if m.issym() else b""
            if m.isfile():
                extracted = tar.extractfile(m)
                assert extracted is not None
                content = extracted.read()
            found[m.name.rstrip("/")] = (kind, content)
    return found


@pytest.fixture
def opened(small_repo):
    source = GitSource.open(str(small_repo), Path("/nonexistent"))
    yield source
    source.close()


@pytest.mark.parametrize("name", ["pkg-2.tar.gz", "pkg-2.tar.bz2", "pkg-2.tar.xz", "pkg-2.tar"])
def test_the_tarball_holds_what_git_archive_holds(opened, small_repo, tmp_path, name):
    commit = opened.resolve("HEAD")
    tree = opened.tree(commit, PurePosixPath("pkg"))
    packed = SourceTarball(opened, tree, "pkg-2", commit.committed_date, commit=commit)
    packed.write(tmp_path / name)
    again = tmp_path / f"again-{name}"
    packed_again = SourceTarball(opened, tree, "pkg-2", commit.committed_date, commit=commit)
    packed_again.write(again)
    assert (tmp_path / name).read_bytes() == again.read_bytes()
    ours = members((tmp_path / name).read_bytes())
    argv = ["git", "-C", str(small_repo), "archive", "--format=tar", "--prefix=pkg-2/", "HEAD:pkg"]
    # git archive of a tree (not a commit) applies no attributes: the commit's archive of the subdirectory is
    theirs_commit = subprocess.run(
        ["git", "-C", str(small_repo), "archive", "--format=tar", "--prefix=pkg-2/", "HEAD", "pkg"],
        env=ENV,
        check=True,
        capture_output=True,
    ).stdout
    theirs = {k.replace("pkg-2/pkg/", "pkg-2/"): v for k, v in members(theirs_commit).items() if k != "pkg-2/pkg"}
    theirs.pop("pkg-2", None)
    ours.pop("pkg-2", None)
    assert ours == theirs
    assert b"$Format" not in ours["pkg-2/src/main.py"][1]
    plain = members(subprocess.run(argv, env=ENV, check=True, capture_output=True).stdout)
    assert b"$Format:%H$" in plain["pkg-2/src/main.py"][1]  # without the commit's attributes: as committed
    with tarfile.open(tmp_path / name) as tar:
        for m in tar:
            assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "root", "root", commit.committed_date)
            if m.isfile():
                assert m.mode == (0o755 if m.name.endswith("run.sh") else 0o644)


def test_without_a_commit_no_attribute_applies(opened, tmp_path):
    commit = opened.resolve("HEAD")
    packed = SourceTarball(opened, opened.tree(commit, PurePosixPath()), "all-1", commit.committed_date)
    packed.write(tmp_path / "all-1.tar.gz")
    found = members((tmp_path / "all-1.tar.gz").read_bytes())
    assert "all-1/other.txt" in found  # export-ignore is the commit's attribute: not applied
    assert found["all-1/pkg/link"] == ("link", "pkg.spec")


def test_a_stop_ends_the_writing(opened, tmp_path):
    commit = opened.resolve("HEAD")
    packed = SourceTarball(opened, opened.tree(commit, PurePosixPath()), "x-1", commit.committed_date)
    with pytest.raises(TarballStopped):
        packed.write(tmp_path / "x-1.tar", stop=lambda: True)


def test_compression_follows_the_name():
    assert compression_for("a-1.tgz") == ".tgz"
    assert compression_for("a-1.tar.xz") == ".tar.xz"
    with pytest.raises(InputError, match="'a-1.zip': git2srpm can make only .tar, .tar.gz"):
        compression_for("a-1.zip")


ATTRIBUTES = r"""[attr]nope export-ignore
[attr]subst-macro export-subst -diff
"sp ace/f" export-ignore
"\141bc" export-ignore
"t\tab" nope
"broken\q" export-ignore
*.macro nope
binary-one binary export-ignore
keep.macro -nope
over.txt nope !export-ignore
later.txt export-ignore
later.txt -export-ignore
*.subst subst-macro
"""
FILES = {
    "sp ace/f": "quoted: a space in a directory\n",
    "abc": "octal escapes\n",
    "t\tab": "a tab\n",
    "broken\\q": "a broken escape: the line is read unquoted\n",
    "x.macro": "a macro\n",
    "keep.macro": "unset\n",
    "binary-one": "builtin binary, then export-ignore\n",
    "over.txt": "macro then unspecified\n",
    "later.txt": "the later line wins\n",
    "f.subst": "$Format:%H$\n",
    "sub/y.macro": "a macro below\n",
    "sub/.gitattributes": "[attr]ignored export-ignore\nz.txt ignored\n",
    "sub/z.txt": "a macro defined below\n",
    "plain.txt": "nothing\n",
}


@pytest.fixture
def attributed_repo(tmp_path):
    """Quoted patterns and macro attributes, as git reads them."""
    top = tmp_path / "quoted"
    for name, text in FILES.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(text)
    (top / ".gitattributes").write_text(ATTRIBUTES)
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "attributes"]):
        subprocess.run(["git", "-C", str(top), *argv], env=ENV, check=True, capture_output=True)
    return top


def test_quoted_patterns_and_macros_apply_as_git_check_attr_says(attributed_repo):
    source = GitSource.open(str(attributed_repo), Path("/nonexistent"))
    try:
        ours = source.archive_attributes(source.resolve("HEAD"), PurePosixPath())
    finally:
        source.close()
    names = ["export-ignore", "export-subst", "diff", "nope", "ignored"]
    said = subprocess.run(
        ["git", "check-attr", "-z", "--stdin", *names],
        cwd=attributed_repo,
        env=ENV,
        input="\0".join(FILES) + "\0",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = said.split("\0")
    for i in range(0, len(fields) - 2, 3):
        path, attr, value = fields[i : i + 3]
        mine = ours.get(PurePosixPath(path), attr)
        said_by_us = {True: "set", False: "unset", None: "unspecified"}[mine] if not isinstance(mine, str) else mine
        assert said_by_us == value, (path, attr)


def test_the_tarball_leaves_out_what_quoted_patterns_and_macros_mark(attributed_repo, tmp_path):
    source = GitSource.open(str(attributed_repo), Path("/nonexistent"))
    try:
        commit = source.resolve("HEAD")
        SourceTarball(source, source.tree(commit, PurePosixPath()), "q-1", commit.committed_date, commit=commit).write(
            tmp_path / "q-1.tar"
        )
    finally:
        source.close()
    archive = ["git", "-C", str(attributed_repo), "archive", "--format=tar", "--prefix=q-1/", "HEAD"]
    theirs = members(subprocess.run(archive, env=ENV, check=True, capture_output=True).stdout)
    ours = members((tmp_path / "q-1.tar").read_bytes())
    assert ours == theirs
    assert "q-1/sp ace/f" not in ours
    assert "q-1/abc" not in ours
    assert "q-1/x.macro" not in ours
    assert "q-1/sub/z.txt" in ours  # a macro defined below the top level is not one
    assert b"$Format" not in ours["q-1/f.subst"][1]
