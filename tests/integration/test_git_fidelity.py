# mypy: disable-error-code="func-returns-value"
"""git as the oracle for the git reader: the dirty check against `git status --untracked-files=no` over the
index shapes git writes (never a wrong "clean"; "cannot tell" only where git's conversion machinery would
decide), tarballs against `git archive` for export-ignore and export-subst, replace refs ignored, and crafted
objects and refs as one error line."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from altai_release.git import GitSource
from altai_release.sources.tarball import SourceTarball
from altai_testlib import GitRepo, assert_one_line_error, run_tool

FILES = {
    "a.txt": "alpha\n",
    "run.sh": "#!/bin/sh\n",
    "dir/b.txt": "beta\n",
    "dir/sub/c.txt": "gamma\n",
    "other/d.txt": "delta\n",
    "link": "",
    "crlf.bat": "one\ntwo\n",
}


def _setup(repo: GitRepo) -> None:
    (repo.path / "link").unlink()
    (repo.path / "link").symlink_to("a.txt")
    (repo.path / "run.sh").chmod(0o644)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "shape")


def _touch(path: Path) -> None:
    later = time.time_ns() + 5 * 10**9
    os.utime(path, ns=(later, later))


def _racy(repo: GitRepo) -> None:
    """A same-size edit that keeps the time the index recorded: git must look at the content."""
    target = repo.path / "a.txt"
    before = target.stat().st_mtime_ns
    target.write_text("ALPHA\n")
    os.utime(target, ns=(before, before))
    index = repo.path / ".git" / "index"
    os.utime(index, ns=(before, before))  # the index written in the same tick as the file


SHAPES: dict[str, Callable[[GitRepo], object]] = {
    "index v2, touched": lambda r: (r.git("update-index", "--index-version", "2"), _touch(r.path / "a.txt")),
    "index v3, clean": lambda r: r.git("update-index", "--index-version", "3"),
    "index v4, modified": lambda r: (r.git("update-index", "--index-version", "4"), r.write({"dir/b.txt": "B\n"})),
    "staged": lambda r: (r.write({"a.txt": "staged\n"}), r.git("add", "a.txt")),
    "deleted": lambda r: (r.path / "dir" / "sub" / "c.txt").unlink(),
    "intent to add": lambda r: (r.write({"new.txt": "n\n"}), r.git("add", "-N", "new.txt")),
    "split index": lambda r: (r.git("update-index", "--split-index"), r.write({"a.txt": "alpha\n"})),
    "split index, modified": lambda r: (r.git("update-index", "--split-index"), r.write({"a.txt": "split\n"})),
    "sparse checkout": lambda r: r.git("sparse-checkout", "set", "--no-cone", "/dir/"),
    "sparse index": lambda r: r.git("sparse-checkout", "set", "--cone", "--sparse-index", "dir"),
    "eol=crlf, touched": lambda r: _crlf(r),
    "assume unchanged": lambda r: (r.git("update-index", "--assume-unchanged", "a.txt"), r.write({"a.txt": "x\n"})),
    "skip worktree": lambda r: (r.git("update-index", "--skip-worktree", "a.txt"), r.write({"a.txt": "x\n"})),
    "chmod +x only": lambda r: (r.path / "run.sh").chmod(0o755),
    "racy edit": _racy,
    "link retargeted": lambda r: ((r.path / "link").unlink(), (r.path / "link").symlink_to("dir/b.txt")),
}
# where git's conversion machinery decides, the reader may say it cannot tell, never the wrong answer
MAY_NOT_TELL = {"split index", "split index, modified", "eol=crlf, touched"}


def _crlf(repo: GitRepo) -> None:
    repo.write({".gitattributes": "*.bat eol=crlf\n"})
    repo.git("add", ".gitattributes")
    repo.git("commit", "-q", "-m", "attributes")
    (repo.path / "crlf.bat").unlink()
    repo.git("checkout", "--", "crlf.bat")  # written with CRLF, as the attribute says
    assert (repo.path / "crlf.bat").read_bytes() == b"one\r\ntwo\r\n"
    _touch(repo.path / "crlf.bat")


@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_dirty_check_answers_as_git_status(make_repo, shape, tmp_path):
    repo = make_repo(FILES)
    _setup(repo)
    SHAPES[shape](repo)
    source = GitSource.open(str(repo.path), tmp_path / "unused")
    try:
        ours = source.worktree_state()
    finally:
        source.close()
    git_says = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if ours.dirty is None:
        assert shape in MAY_NOT_TELL, (shape, ours.why, git_says)
        assert ours.why
    else:
        assert ours.dirty == bool(git_says.strip()), (shape, ours, git_says)


def _archive_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_tarball_honours_export_ignore_and_export_subst_as_git_archive(make_repo, tmp_path):
    repo = make_repo(
        {
            "pkg/keep.txt": "kept\n",
            "pkg/secret/private.key": "key\n",
            "pkg/notes.tmp": "tmp\n",
            "pkg/deep/x.tmp": "tmp\n",
            "pkg/version.txt": "$Format:%H %h %ct %an$ and $Format:%s$\n",
            "pkg/.gitattributes": "secret export-ignore\n*.tmp export-ignore\nversion.txt export-subst\n",
            ".gitattributes": "pkg/keep.txt -export-ignore\n",
        }
    )
    head = repo.git("rev-parse", "HEAD")
    archived = subprocess.run(
        ["git", "archive", "--format=tar", "--prefix=top/", "HEAD", "pkg/"],
        cwd=repo.path,
        capture_output=True,
        check=True,
    ).stdout
    expected = {name.removeprefix("pkg/"): data for name, data in _archive_members(archived).items()}
    source = GitSource.open(str(repo.path), tmp_path / "unused")
    try:
        commit = source.resolve("HEAD")
        tree = source.tree(commit, PurePosixPath("pkg"))
        SourceTarball(source, tree, "top", commit.committed_date, {}, commit).write(tmp_path / "t.tar")
    finally:
        source.close()
    ours = _archive_members((tmp_path / "t.tar").read_bytes())
    assert set(ours) == set(expected) == {".gitattributes", "keep.txt", "version.txt"}
    assert "secret/private.key" not in ours
    assert "notes.tmp" not in ours
    assert "deep/x.tmp" not in ours
    assert ours["version.txt"] == expected["version.txt"]
    assert ours["version.txt"].startswith(head.encode())


def test_replace_refs_do_not_change_what_a_commit_packs(make_repo, tmp_path):
    repo = make_repo({"hello.spec": _SPEC, "file.txt": "original\n"})
    original = repo.git("rev-parse", "HEAD")
    impostor = repo.commit({"file.txt": "replaced\n"})
    repo.git("reset", "-q", "--hard", original)
    repo.git("replace", original, impostor)
    assert repo.git("show", "HEAD:file.txt") == "replaced"  # what git itself now shows for the commit
    source = GitSource.open(str(repo.path), tmp_path / "unused")
    try:
        commit = source.resolve(original)
        assert source.read_file(commit, PurePosixPath("file.txt")) == b"original\n"
    finally:
        source.close()


_SPEC = "Name: hello\nVersion: 1.0\nRelease: 1\nSummary: s\nLicense: MIT\nSource0: hello-1.0.tar.gz\n%description\nd\n"


def _object(repo: GitRepo, kind: str, data: bytes) -> str:
    proc = subprocess.run(
        ["git", "hash-object", "--literally", "-w", "-t", kind, "--stdin"],
        cwd=repo.path,
        input=data,
        capture_output=True,
        check=True,
    )
    return proc.stdout.decode().strip()


def test_crafted_objects_and_refs_are_one_line(make_repo, tmp_path):
    repo = make_repo({"hello.spec": _SPEC})
    blob = bytes.fromhex(repo.git("rev-parse", "HEAD:hello.spec"))
    tree = repo.git("rev-parse", "HEAD^{tree}")
    bad_tree = _object(repo, "tree", b"1x0644 hello.spec\0" + blob)
    author = b"author x <x@example.com> 1700000000 +0000\n"
    bad_time = b"committer x <x@example.com> 99999999999999999999 +0000\n"
    commits = [
        (
            _object(
                repo,
                "commit",
                b"tree " + bad_tree.encode() + b"\n" + author + author.replace(b"author", b"committer") + b"\nm\n",
            ),
            bad_tree,
            "has an entry with mode '1x0644'",
        ),
        (
            _object(repo, "commit", b"tree " + tree.encode() + b"\n" + author + b"committer x y\n\nm\n"),
            None,
            "has a committer line without a usable time",
        ),
        (
            _object(repo, "commit", b"tree " + tree.encode() + b"\n" + author + bad_time + b"\nm\n"),
            None,
            "has a committer line without a usable time",
        ),
    ]
    for commit, culprit, message in commits:
        run = run_tool("git2srpm.py", "--ref", commit, "--outdir", str(tmp_path / "out"), str(repo.path))
        assert_one_line_error(run, str(repo.path), culprit or commit, message)
        assert run.returncode == 2
    run = run_tool("git2srpm.py", "--ref", "HEAD main", "--outdir", str(tmp_path / "out"), str(repo.path))
    assert_one_line_error(run, "ref 'HEAD main' has a space")
    assert "invalid literal" not in run.stderr


# -- gitattributes patterns, with git check-attr as the oracle (issue 37) ---------------------------------

PATTERNS = [
    "*.txt",
    "dir/",
    "dir/**",
    "**/c.txt",
    "/a.txt",
    "sub",
    "d[[:alpha:]]r/b.txt",
    "[!a]*.sh",
    "other/*",
    "*a*a*a*a*a*a*a*a*a*a*a*a*b",
    "[a-c].txt",
    "x\\*y",
    "a?txt",
    "**/sub/**",
    "[[:digit:]]*",
    "o*/d.txt",
    "[abc",
    "dir/sub",
]
PATHS = [  # a directory with its slash, as git archive asks for one
    "a.txt",
    "b.txt",
    "run.sh",
    "dir/",
    "dir/b.txt",
    "dir/sub/",
    "dir/sub/c.txt",
    "other/d.txt",
    "x*y",
    "1st.txt",
    "a" * 200,
    "aaaa/aaaa/ab",
    "other/deep/d.txt",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_attribute_patterns_match_as_git_check_attr_says(make_repo, pattern):
    from altai_release.git.attributes import Attributes, parse_rules

    repo = make_repo({".gitattributes": f"{pattern} export-ignore\n", "dir/.gitattributes": "*.txt export-subst\n"})
    said = subprocess.run(
        ["git", "check-attr", "--stdin", "-z", "export-ignore", "export-subst"],
        cwd=repo.path,
        input="\0".join(PATHS) + "\0",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = said.split("\0")
    oracle = {(fields[i], fields[i + 1]): fields[i + 2] for i in range(0, len(fields) - 2, 3)}
    ours = Attributes(
        parse_rules(f"{pattern} export-ignore\n", PurePosixPath())
        + parse_rules("*.txt export-subst\n", PurePosixPath("dir"))
    )
    for path in PATHS:
        for attr in ("export-ignore", "export-subst"):
            expected = oracle[(path, attr)] == "set"
            assert ours.is_set(PurePosixPath(path), attr, path.endswith("/")) is expected, (pattern, path, attr)
