"""The git wrapper against git itself: refs read from the ref files agree with `git rev-parse` (or decline),
the index parser reads every index version git writes, a resolved commit's memo is used for that commit
only, and --verbose's timing log keeps the one-line error contract."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest
from altai_release.git import GitSource, peek_ref
from altai_release.git.index import Conversions, worktree_state
from altai_release.layout import PackageEntry
from altai_release.sources.git_source import GitPackageSource
from altai_testlib import assert_one_line_error, run_tool

SPEC = "Name: memo\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\nSource0: memo-1.tar.gz\n%description\nd\n"


def test_refs_read_from_files_agree_with_git(make_repo):
    repo = make_repo({"a.txt": "a\n"})
    first = repo.commit({"a.txt": "b\n"})
    repo.git("tag", "light", first)
    repo.git("tag", "-a", "-m", "annotated", "heavy", first)
    repo.git("branch", "feature")
    second = repo.commit({"a.txt": "c\n"})
    repo.git("tag", "feature", first)  # a tag and a branch of one name: git takes the tag
    refs = ["HEAD", "main", "feature", "light", "heavy", "refs/heads/feature", "refs/tags/feature", second]
    for packed in (False, True):
        if packed:
            repo.git("pack-refs", "--all", "--prune")
        for ref in refs:
            assert peek_ref(str(repo.path), ref) == repo.git("rev-parse", ref), (ref, packed)
    # not plain: git answers
    for ref in ["HEAD@{1}", "main~1", "main^{tree}", "FETCH_HEAD", "../x", "-x", "nosuchref"]:
        assert peek_ref(str(repo.path), ref) is None, ref


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_index_of_every_version_is_read_and_a_change_seen(make_repo, version):
    repo = make_repo({"a.txt": "a\n", "dir/b.txt": "b\n", "dir/sub/c.txt": "c\n", "x" * 90 + ".txt": "long\n"})
    repo.git("update-index", "--index-version", version)
    if version == "3":
        repo.write({"new.txt": "intent\n"})
        repo.git("add", "-N", "new.txt")  # an intent-to-add entry carries the extended flags of version 3
    assert (repo.path / ".git" / "index").read_bytes()[4:8] == int(version).to_bytes(4, "big")
    index = repo.path / ".git" / "index"
    assert worktree_state(index, repo.path, Conversions).dirty == (version == "3")  # git add -N: a change
    (repo.path / "dir" / "sub" / "c.txt").write_text("changed\n")
    assert worktree_state(index, repo.path, Conversions).dirty


def test_a_commits_memo_is_used_for_that_commit_only(make_repo, tmp_path):
    repo = make_repo({"memo.spec": SPEC})
    entry = PackageEntry("memo", str(repo.path), "HEAD", None, None, "centos6", "", "epel-6-x86_64")
    memo = tmp_path / "memo"
    first = GitPackageSource.resolve(entry, tmp_path / "w1", [], None, tmp_path, memo)
    record = json.loads((memo / "memo.json").read_text())
    assert record["answer"]["commit"] == first.commit
    # an answer planted for this commit is what the next resolution uses: git was not asked
    record["answer"]["material"] = {**record["answer"]["material"], "tree": "planted"}
    (memo / "memo.json").write_text(json.dumps(record))
    again = GitPackageSource.resolve(entry, tmp_path / "w2", [], None, tmp_path, memo)
    assert (again.commit, again.material([])["tree"]) == (first.commit, "planted")
    # another commit, other named files or a damaged memo: git answers
    newer = repo.commit({"memo.spec": SPEC.replace("Release: 1", "Release: 2")})
    moved = GitPackageSource.resolve(entry, tmp_path / "w3", [], None, tmp_path, memo)
    assert moved.commit == newer
    assert moved.material([])["tree"] not in ("planted", first.material([])["tree"])
    current = json.loads((memo / "memo.json").read_text())
    assert current["answer"]["commit"] == newer
    bad_spec = {**current, "answer": {**current["answer"], "spec": "../x", "material": {"tree": "planted"}}}
    for i, damaged in enumerate(("[]", '{"question": 1}', json.dumps(bad_spec))):
        (memo / "memo.json").write_text(damaged)
        again = GitPackageSource.resolve(entry, tmp_path / f"w4-{i}", [], None, tmp_path, memo)
        assert (again.commit, str(again.spec)) == (newer, "memo.spec")
        assert again.material([])["tree"] != "planted"
    source = GitSource.open(str(repo.path), tmp_path / "unused")
    try:
        blob = source.blob_id(source.resolve("HEAD"), PurePosixPath("memo.spec"))
        assert moved.material([])["files"] == {"memo.spec": blob}
    finally:
        source.close()


def test_verbose_logs_steps_and_an_error_stays_last(make_repo, tmp_path: Path):
    repo = make_repo({"memo.spec": SPEC})
    ok = run_tool("git2srpm.py", "-v", "--outdir", str(tmp_path / "out"), str(repo.path))
    assert ok.returncode == 0, ok.stderr
    assert "time: memo: spec read (sandbox)" in ok.stderr
    assert "time:   rpmbuild -bs (same sandbox)" in ok.stderr
    failed = run_tool("git2srpm.py", "-v", "--ref", "nosuchref", "--outdir", str(tmp_path / "out"), str(repo.path))
    assert_one_line_error(failed, "unknown ref 'nosuchref'")
