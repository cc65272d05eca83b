"""The git package read against git itself: objects, trees, refs (loose and packed), the index, attributes,
export-subst formats and the dirty check, each compared with what the git command line answers."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import pytest
from altai_release.core.errors import InputError
from altai_release.git import MODE_DIR, GitSource, peek_ref
from altai_release.git.index import parse_index
from altai_release.git.objects import parse_commit
from unitlib import ENV, git


@pytest.fixture
def source(small_repo: Path):
    opened = GitSource.open(str(small_repo), Path("/nonexistent"))
    yield opened
    opened.close()


def test_resolve_names_the_commit_git_names(source, small_repo):
    for ref in ("HEAD", "main", "v1", "v2", "HEAD~2"):
        commit = source.resolve(ref)
        assert commit.hexsha == git(small_repo, "rev-parse", f"{ref}^{{commit}}").strip()
        assert commit.tree == git(small_repo, "rev-parse", f"{ref}^{{tree}}").strip()
        assert commit.committed_date == int(git(small_repo, "log", "-1", "--format=%ct", ref))


def test_resolve_refuses_what_is_not_a_commit(source):
    with pytest.raises(InputError, match="unknown ref 'nope'"):
        source.resolve("nope")
    with pytest.raises(InputError, match="is a blob, not a commit"):
        source.resolve("HEAD:other.txt")
    with pytest.raises(InputError, match="space or control"):
        source.resolve("main two")
    with pytest.raises(InputError):
        source.resolve("--upload-pack=x")


def test_walk_lists_what_ls_tree_lists(source, small_repo):
    head = source.resolve("HEAD")
    walked = {str(e.path): (e.mode, e.hexsha) for e in source.walk(source.tree(head, PurePosixPath()))}
    listed = {}
    for line in git(small_repo, "ls-tree", "-r", "-t", "HEAD").splitlines():
        meta, path = line.split("\t")
        mode, _kind, hexsha = meta.split()
        listed[path] = (int(mode, 8), hexsha)
    assert walked == listed
    assert walked["pkg"][0] == MODE_DIR


def test_files_and_blobs_of_a_commit(source, small_repo):
    head, first = source.resolve("HEAD"), source.resolve("HEAD~2")
    assert source.read_file(head, PurePosixPath("pkg/pkg.spec")) == b"Name: pkg\nVersion: 2\n"
    assert source.read_file(first, PurePosixPath("pkg/pkg.spec")) == b"Name: pkg\n"
    assert source.read_file(head, PurePosixPath("pkg/link")) is None  # a symlink is not a regular file
    assert source.read_file(head, PurePosixPath("pkg")) is None
    assert source.read_file(head, PurePosixPath("other.txt/below")) is None
    assert source.blob_id(head, PurePosixPath("pkg/run.sh")) == git(small_repo, "rev-parse", "HEAD:pkg/run.sh").strip()
    assert source.blob_id(head, PurePosixPath("missing")) is None
    assert source.list_files(head, PurePosixPath("pkg")) == [".gitattributes", "pkg.spec", "run.sh"]
    blobs = [git(small_repo, "rev-parse", f"HEAD:{p}").strip() for p in ("other.txt", "pkg/pkg.spec")]
    assert list(source.blobs(blobs)) == [b"elsewhere, later\n", b"Name: pkg\nVersion: 2\n"]
    with pytest.raises(InputError, match="is not a directory"):
        source.tree(head, PurePosixPath("other.txt"))
    with pytest.raises(InputError, match="no directory"):
        source.tree(head, PurePosixPath("nowhere"))


def test_history_as_git_log_tells_it(source, small_repo):
    head = source.resolve("HEAD")
    assert source.commit_count(head) == 3
    assert source.last_change_time(head, [PurePosixPath("pkg")]) == 1_700_000_100
    assert source.last_change_time(head, [PurePosixPath()]) == 1_700_000_200
    assert source.last_change_time(head, [PurePosixPath("never-there")]) == head.committed_date
    assert not source.is_shallow()
    assert source.gitlinks(source.tree(head, PurePosixPath())) == []
    formats = ["%H", "%an <%ae>", "%ct", "%s"]
    expected = [git(small_repo, "log", "-1", f"--format={f}", "HEAD").removesuffix("\n").encode() for f in formats]
    assert source.pretty(head, formats, 4096) == expected


def test_archive_attributes_apply_as_git_archive_does(source, small_repo):
    head = source.resolve("HEAD")
    attributes = source.archive_attributes(head, PurePosixPath("pkg"))
    assert attributes.is_set(PurePosixPath("pkg/src/main.py"), "export-subst")
    assert not attributes.is_set(PurePosixPath("pkg/pkg.spec"), "export-subst")
    assert attributes.is_set(PurePosixPath("pkg/notes.txt"), "export-ignore")
    oracle = git(small_repo, "check-attr", "export-subst", "export-ignore", "--", "pkg/src/main.py", "pkg/pkg.spec")
    assert "pkg/src/main.py: export-subst: set" in oracle
    assert "pkg/pkg.spec: export-subst: unspecified" in oracle


def test_peek_ref_reads_loose_and_packed_refs_as_git(small_repo, tmp_path):
    for ref in ("HEAD", "main", "v1", "refs/heads/main", "v2"):
        assert peek_ref(str(small_repo), ref) == git(small_repo, "rev-parse", ref).strip()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(small_repo), str(clone)], env=ENV, check=True)
    git(clone, "pack-refs", "--all")
    assert not (clone / ".git" / "refs" / "tags" / "v1").exists()
    assert peek_ref(str(clone), "v1") == git(small_repo, "rev-parse", "v1").strip()
    assert peek_ref(str(clone), "origin/main") == git(small_repo, "rev-parse", "main").strip()
    sha = "0" * 40
    assert peek_ref(str(small_repo), sha) == sha
    for not_plain in ("FETCH_HEAD", "main~1", "a..b", "x.lock", "nope"):
        assert peek_ref(str(small_repo), not_plain) is None
    assert peek_ref(str(tmp_path), "HEAD") is None  # not a repository


def test_parse_index_reads_what_ls_files_shows(small_repo):
    index = parse_index((small_repo / ".git" / "index").read_bytes())
    ours = {e.path: (e.mode, e.hexsha, e.stage) for e in index.entries}
    theirs = {}
    for line in git(small_repo, "ls-files", "-s").splitlines():
        meta, path = line.split("\t")
        mode, hexsha, stage = meta.split()
        theirs[path] = (int(mode, 8), hexsha, int(stage))
    assert ours == theirs
    for broken in (b"DIRC\x00\x00\x00\x02", b"DIRC\x00\x00\x00\x09" + bytes(8), b"RIDC"):
        with pytest.raises(ValueError, match="git index"):  # the callers' "cannot tell", never a traceback
            parse_index(broken)


def test_worktree_state_follows_git_status(tmp_path, small_repo):
    clone = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(small_repo), str(clone)], env=ENV, check=True)
    opened = GitSource.open(str(clone), Path("/nonexistent"))
    try:
        assert opened.worktree_state().dirty is False
        (clone / "pkg" / "pkg.spec").write_text("Name: changed\n")
        assert opened.worktree_state().dirty is True
        git(clone, "add", "pkg/pkg.spec")
        assert opened.worktree_state().why == "changes are staged"
        git(clone, "reset", "-q", "--hard")
        (clone / "pkg" / "run.sh").chmod(0o644)
        assert opened.worktree_state().dirty is True  # the mode counts, as for git status
    finally:
        opened.close()


def test_open_finds_the_repository_as_git_finds_it(small_repo, tmp_path):
    with pytest.raises(InputError, match="not a git repository"):
        GitSource.open(str(tmp_path), Path("/nonexistent"))
    with pytest.raises(InputError, match="no such directory, and not a git URL"):
        GitSource.open(str(tmp_path / "missing"), Path("/nonexistent"))
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(small_repo), str(bare)], env=ENV, check=True)
    opened = GitSource.open(str(bare), Path("/nonexistent"))
    try:
        assert opened.work_tree is None
        assert opened.resolve("v1").hexsha == git(small_repo, "rev-parse", "v1").strip()
        assert opened.worktree_state().dirty is False
    finally:
        opened.close()


def test_parse_commit_refuses_a_commit_without_a_time():
    tree = "t" * 40
    good = f"tree {tree}\ncommitter C <c@x> 1700000000 +0000\n\nmessage\ncommitter X <x> 5 +0000\n".encode()
    assert parse_commit("small_repo", "c" * 40, good).committed_date == 1_700_000_000
    with pytest.raises(InputError, match="without a usable time"):
        parse_commit("small_repo", "c" * 40, f"tree {tree}\ncommitter C <c@x> soon +0000\n".encode())
    with pytest.raises(InputError, match="has no committer line"):
        parse_commit("small_repo", "c" * 40, f"tree {tree}\n".encode())
    with pytest.raises(InputError, match="has no tree line"):
        parse_commit("small_repo", "c" * 40, b"committer C <c@x> 1 +0000\n")
