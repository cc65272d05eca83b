"""The git side of the pipeline: open a repository (a local path or a URL), resolve refs to commits,
read files and trees *of a commit* (never of the work tree). Wraps GitPython; every failure becomes a
GitError or InputError that names the repository and the ref or path.

A local repository is not ours: its `.git/config` can name programs that git runs (core.fsmonitor, filter
drivers, external diff). We run only git commands that read objects and refs (rev-parse, cat-file,
rev-list), with core.fsmonitor off; the dirty-tree check compares the index with the files ourselves
instead of asking `git diff` (which would run filters). A repository owned by another user is refused
as git refuses it (safe.directory), with git's own advice."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git
from git.objects import Blob, Commit, Tree

from .errors import GitError, InputError
from .paths import check_not_option, is_git_url
from .runner import reason

_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false"}
# a repository's own config must not make git run a program of its choosing while we read it
_SAFE_OPTIONS = ("core.fsmonitor=false", "core.hooksPath=/dev/null")


def git_reason(exc: git.GitCommandError) -> str:
    """git's own words from a failed command (GitPython wraps them in `stderr: '...'`)."""
    text = str(exc.stderr or "").strip()
    if text.startswith("stderr:"):
        text = text.removeprefix("stderr:").strip().strip("'")
    return reason(text, ("fatal:", "error:")) or f"exit status {exc.status}"


@dataclass(frozen=True)
class TreeEntry:
    path: PurePosixPath  # relative to the tree that was walked
    mode: int  # git mode: 0o100644, 0o100755, 0o120000 (symlink), 0o040000 (dir), 0o160000 (gitlink)
    blob: Blob | None
    hexsha: str = ""  # the object id (for a gitlink: the submodule's commit)


class GitSource:
    """A git repository the pipeline reads commits from."""

    def __init__(self, repo: git.Repo, location: str, is_local: bool) -> None:
        self.repo = repo
        self.location = location  # how messages name the repository: the path or URL the user gave
        self.is_local = is_local

    @classmethod
    def open(cls, location: str, clone_dir: Path, shown_as: str | None = None) -> GitSource:
        """Open a local repository in place, or clone a URL (bare) into `clone_dir`. `shown_as`: the name
        for messages when `location` is our own clone of a URL."""
        check_not_option("repository", location)
        if os.path.exists(location):
            try:
                repo = git.Repo(location, search_parent_directories=False)
            except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
                raise InputError(f"{shown_as or location}: not a git repository") from exc
            repo.git.set_persistent_git_options(c=list(_SAFE_OPTIONS))
            return cls(repo, shown_as or location, is_local=shown_as is None)
        if not is_git_url(location):
            raise InputError(f"{location}: no such directory, and not a git URL")
        try:
            repo = git.Repo.clone_from(location, clone_dir, bare=True, env=_GIT_ENV)
        except git.GitCommandError as exc:
            raise GitError(f"{location}: cannot clone: {git_reason(exc)}", exc.command, str(exc.stderr)) from exc
        repo.git.set_persistent_git_options(c=list(_SAFE_OPTIONS))
        return cls(repo, location, is_local=False)

    def resolve(self, ref: str) -> Commit:
        """The commit a ref names, as `git rev-parse` understands it (reflog forms like HEAD@{1} too)."""
        check_not_option("ref", ref)
        try:
            hexsha = self.repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        except git.GitCommandError as exc:
            reason = git_reason(exc) if str(exc.stderr or "").strip() else ""
            if "dubious ownership" in reason:
                raise InputError(
                    f"{self.location}: git refuses a repository owned by another user ({reason}); "
                    "if you trust it: git config --global --add safe.directory "
                    f"{os.path.abspath(self.location)}"
                ) from exc
            kind = self._object_type(ref)
            if kind and kind not in ("commit", "tag"):
                raise InputError(f"{self.location}: ref {ref!r} is a {kind}, not a commit") from exc
            raise InputError(f"{self.location}: unknown ref {ref!r}") from exc
        return self.repo.commit(hexsha)

    def _object_type(self, ref: str) -> str:
        try:
            return str(self.repo.git.cat_file("-t", "--end-of-options", ref))
        except git.GitCommandError:
            return ""

    def is_dirty(self) -> bool:
        """Whether a tracked file differs from the commit checked out (a warning only)."""
        if not self.is_local or self.repo.bare or self.repo.working_tree_dir is None:
            return False
        return worktree_differs(self.repo, Path(self.repo.working_tree_dir))

    def tree(self, commit: Commit, path: PurePosixPath) -> Tree:
        if not path.parts:
            return commit.tree
        try:
            obj = commit.tree / str(path)
        except KeyError as exc:
            raise InputError(f"{self.location}: no directory {str(path)!r} at {commit.hexsha[:12]}") from exc
        if not isinstance(obj, Tree):
            raise InputError(f"{self.location}: {str(path)!r} at {commit.hexsha[:12]} is not a directory")
        return obj

    def read_file(self, commit: Commit, path: PurePosixPath) -> bytes | None:
        """The bytes of a file at the commit, or None when there is no such regular file."""
        try:
            obj = commit.tree / str(path)
        except KeyError:
            return None
        if not isinstance(obj, Blob) or obj.mode == 0o120000:
            return None
        data: bytes = obj.data_stream.read()
        return data

    def blob_id(self, commit: Commit, path: PurePosixPath) -> str | None:
        """The git object id of a path at the commit (a file's blob), None when absent."""
        try:
            return str((commit.tree / str(path)).hexsha)
        except KeyError:
            return None

    def list_files(self, commit: Commit, directory: PurePosixPath) -> list[str]:
        """Names of the regular files directly in `directory` at the commit."""
        tree = self.tree(commit, directory)
        return sorted(b.name for b in tree.blobs if b.mode != 0o120000)

    def walk(self, tree: Tree) -> Iterator[TreeEntry]:
        """Every entry below `tree`, depth-first in byte order of the path (stable across runs)."""
        base = PurePosixPath(tree.path) if tree.path else PurePosixPath()
        entries: list[TreeEntry] = []
        for item in tree.traverse():
            rel = PurePosixPath(item.path).relative_to(base)  # type: ignore[union-attr]
            blob = item if isinstance(item, Blob) else None
            entries.append(TreeEntry(rel, int(item.mode), blob, str(item.hexsha)))  # type: ignore[union-attr]
        # a name that is not UTF-8 is kept as git stores it (surrogate escapes), also for the sort
        entries.sort(key=lambda e: str(e.path).encode("utf-8", "surrogateescape"))
        return iter(entries)

    def last_change_time(self, commit: Commit, paths: list[PurePosixPath]) -> int:
        """Commit time of the last commit at or before `commit` that touched any of `paths` (the whole tree
        when one of them is the root): a package's own time, unmoved by commits elsewhere in the repo."""
        if any(not p.parts for p in paths):
            return int(commit.committed_date)
        try:
            last = next(self.repo.iter_commits(commit.hexsha, paths=[str(p) for p in paths], max_count=1), None)
        except git.GitCommandError as exc:
            raise GitError(f"{self.location}: cannot read the history", exc.command, str(exc.stderr)) from exc
        return int((last or commit).committed_date)

    def is_shallow(self) -> bool:
        """A clone made with --depth: the history before its grafts is missing."""
        return (Path(self.repo.git_dir) / "shallow").is_file()

    def gitlinks(self, tree: Tree) -> list[TreeEntry]:
        """The submodules (gitlinks) in a tree."""
        return [e for e in self.walk(tree) if e.mode == 0o160000]

    def submodule(self, path: PurePosixPath) -> GitSource | None:
        """The submodule checked out at `path` of the work tree (`git submodule update --init`), or None."""
        if self.repo.working_tree_dir is None or not (Path(self.repo.working_tree_dir) / path / ".git").exists():
            return None
        try:
            repo = git.Repo(Path(self.repo.working_tree_dir) / path, search_parent_directories=False)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            return None
        repo.git.set_persistent_git_options(c=list(_SAFE_OPTIONS))
        return GitSource(repo, f"{self.location} submodule {path}", is_local=False)

    def commit_count(self, commit: Commit) -> int:
        try:
            return int(self.repo.git.rev_list("--count", commit.hexsha))
        except git.GitCommandError as exc:
            raise GitError(f"{self.location}: cannot count commits", exc.command, str(exc.stderr)) from exc

    def close(self) -> None:
        self.repo.close()


def worktree_differs(repo: git.Repo, top: Path) -> bool:
    """Compared by us (the index's blob ids against the files' contents, and the index against HEAD) so that
    no filter or fsmonitor program of the repository's config runs."""
    try:
        if repo.index.diff("HEAD"):
            return True
        for (path, _stage), entry in repo.index.entries.items():
            if entry.mode == 0o160000:  # a submodule: its own repository
                continue
            file = top / path
            if os.path.islink(file):
                content = os.fsencode(os.readlink(file))
            elif file.is_file():
                stat = file.stat()
                if stat.st_size != entry.size:
                    return True
                if (stat.st_mtime_ns // 10**9, stat.st_mtime_ns % 10**9) == tuple(entry.mtime):
                    continue  # as git's own fast path: same size and time as when the index saw it
                content = file.read_bytes()
            else:
                return True
            digest = hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()
            if digest != entry.hexsha:
                return True
    except (git.GitCommandError, ValueError, OSError):
        return False
    return False
