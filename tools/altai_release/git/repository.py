"""The repository facade the pipeline uses: open a repository (a local path, or a URL cloned bare), resolve
refs to commits, read files and trees *of a commit* (never of the work tree), its history, its archive
attributes, and whether its work tree has uncommitted changes. Every failure is a GitError or InputError
that names the repository and the ref or path.

A local repository is not ours: its `.git/config` can name programs that git runs (core.fsmonitor, filter
drivers, external diff, hooks, gpg.program). We run only commands that read objects and refs, with those
programs turned off; paths are literal pathspecs; replace refs are ignored (they would change what a
commit id, our provenance, packs); the dirty check reads the index and the files ourselves. A repository
owned by another user is refused as git refuses it (safe.directory), with git's own advice."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from altai_release.core import runner
from altai_release.core.errors import GitError, InputError
from altai_release.core.paths import check_not_option, is_git_url
from altai_release.git.batch import CatFileBatch
from altai_release.git.checkout import Checkout
from altai_release.git.env import GIT_ENV, SAFE
from altai_release.git.objects import MODE_GITLINK, Commit, Tree, TreeEntry
from altai_release.git.reader import ObjectReader


class GitSource(ObjectReader, Checkout):
    """A git repository the pipeline reads commits from."""

    def __init__(self, git_dir: Path, work_tree: Path | None, location: str, is_local: bool) -> None:
        self.git_dir = git_dir
        self.work_tree = work_tree  # None for a bare repository
        self.location = location  # how messages name the repository: the path or URL the user gave
        self.is_local = is_local
        argv = ["git", *SAFE, "--git-dir", str(git_dir), "cat-file", "--batch"]
        self._batch = CatFileBatch(argv, GIT_ENV, location, self._refused)

    @classmethod
    def open(cls, location: str, clone_dir: Path, shown_as: str | None = None) -> GitSource:
        """Open a local repository in place, or clone a URL (bare) into `clone_dir`. `shown_as`: the name
        for messages when `location` is our own clone of a URL."""
        check_not_option("repository", location)
        name = shown_as or location
        if os.path.exists(location):
            # the repository is `location` itself, never one of its parents; found as git finds it (a .git
            # directory, a .git file naming one, or a bare repository), without running git for it
            top = Path(location).absolute()
            dot = top / ".git"
            found: GitSource | None = None
            if dot.is_dir():
                found = cls(dot, top, name, is_local=shown_as is None)
            elif dot.is_file():
                pointer = dot.read_text(encoding="utf-8", errors="replace").strip()
                if pointer.startswith("gitdir:"):
                    found = cls(top / pointer.removeprefix("gitdir:").strip(), top, name, is_local=shown_as is None)
            elif all((top / p).exists() for p in ("HEAD", "objects", "refs")):
                found = cls(top, None, name, is_local=shown_as is None)
            if found is None:
                raise InputError(f"{name}: not a git repository")
            found._check_owner(top)
            found._check_object_format()
            return found
        if not is_git_url(location):
            raise InputError(f"{location}: no such directory, and not a git URL")
        argv = ["git", *SAFE, "clone", "--bare", "--quiet", "--", location, str(clone_dir)]
        proc = runner.run(argv, GitError, f"{location}: cannot clone", env=GIT_ENV, timeout=3600, check=False)
        if proc.returncode != 0:
            said = runner.text(proc.stderr)
            why = runner.reason(said, ("fatal:", "error:")) or f"exit status {proc.returncode}"
            raise GitError(f"{location}: cannot clone: {why}", argv, said, proc.returncode)
        cloned = cls(clone_dir.absolute(), None, location, is_local=False)
        cloned._check_object_format()
        return cloned

    def public_url(self) -> str | None:
        """The URL others fetch this repository from (its `origin` remote, credentials removed), for what the
        release says of a package made from a local checkout; None when it has no such remote."""
        from urllib.parse import urlsplit, urlunsplit

        argv = ["git", "config", "--file", str(self.git_dir / "config"), "--get", "remote.origin.url"]
        proc = runner.run(argv, GitError, f"{self.location}: cannot read its config", env=GIT_ENV, check=False)
        url = runner.text(proc.stdout).strip()
        if proc.returncode != 0 or not is_git_url(url):
            return None
        parts = urlsplit(url)
        if "@" in parts.netloc:  # a user:token@ (or https user@) is nobody's business; ssh's git@ stays
            user, host = parts.netloc.rsplit("@", 1)
            keep = parts.scheme not in ("http", "https") and ":" not in user
            url = urlunsplit(parts._replace(netloc=parts.netloc if keep else host))
        return url

    def _check_object_format(self) -> None:
        """Commit ids, tree entries, the index and the provenance's gitCommit are SHA-1 here: a SHA-256
        repository (git init --object-format=sha256) is refused by name, never misread."""
        argv = ["git", "config", "--file", str(self.git_dir / "config"), "--get", "extensions.objectformat"]
        proc = runner.run(argv, GitError, f"{self.location}: cannot read its config", env=GIT_ENV, check=False)
        found = runner.text(proc.stdout).strip().lower()
        if proc.returncode == 0 and found not in ("", "sha1"):
            raise InputError(
                f"{self.location}: a git repository of object format {found!r} (extensions.objectformat): only "
                "SHA-1 repositories are read; convert it or mirror it into a SHA-1 repository"
            )

    def _check_owner(self, top: Path) -> None:
        """git's safe.directory rule, which git applies only when it finds a repository itself (we name it
        with --git-dir): a repository owned by another user is refused unless configured as safe."""
        me = os.geteuid()
        if me == 0 and os.environ.get("SUDO_UID", "").isdigit():
            me = int(os.environ["SUDO_UID"])  # as git does under sudo
        if all(p.stat().st_uid == me for p in (top, self.git_dir)):
            return
        # from / : the system and global settings only, as git reads safe.directory (never a repository's)
        argv = ["git", "-C", "/", "config", "--get-all", "safe.directory"]
        proc = runner.run(argv, GitError, "read safe.directory", env=GIT_ENV, check=False)
        trusted = runner.text(proc.stdout).split("\n")
        if "*" in trusted or str(top) in trusted or f"{top}/" in trusted:
            return
        refused = self._refused(f"fatal: detected dubious ownership in repository at '{top}'")
        assert refused is not None
        raise refused

    def _refused(self, said: str) -> InputError | None:
        """git's refusal of a repository owned by another user, as one line with git's own advice."""
        if "dubious ownership" not in said:
            return None
        where = self.work_tree or self.git_dir
        return InputError(
            f"{self.location}: git refuses a repository owned by another user "
            f"({runner.reason(said, ('fatal:',))}); if you trust it: git config --global --add safe.directory {where}"
        )

    def git(self, *args: str, what: str, check: bool = True) -> str:
        """A plumbing command in this repository; its stdout."""
        argv = ["git", *SAFE, "--git-dir", str(self.git_dir), *args]
        proc = runner.run(argv, GitError, f"{self.location}: {what}", env=GIT_ENV, check=False)
        if proc.returncode != 0 and check:
            said = runner.text(proc.stderr)
            refused = self._refused(said)
            if refused is not None:
                raise refused
            why = runner.reason(said, ("fatal:", "error:")) or f"exit status {proc.returncode}"
            raise GitError(f"{self.location}: {what}: {why}", argv, said, proc.returncode)
        return runner.text(proc.stdout)

    # -- objects ---------------------------------------------------------------------------------------

    # -- history, attributes, the work tree ------------------------------------------------------------

    def last_change_time(self, commit: Commit, paths: list[PurePosixPath]) -> int:
        """Commit time of the last commit at or before `commit` that touched any of `paths` (the whole tree
        when one of them is the root): a package's own time, unmoved by commits elsewhere in the repo."""
        if any(not p.parts for p in paths):
            return commit.committed_date
        out = self.git(
            "rev-list", "-1", "--format=%ct", commit.hexsha, "--", *map(str, paths), what="cannot read the history"
        )
        lines = out.split()
        if len(lines) < 2:
            return commit.committed_date
        if not lines[-1].isdigit():
            raise InputError(f"{self.location}: a commit before {commit.hexsha[:12]} has no usable committer time")
        return int(lines[-1])

    def commit_count(self, commit: Commit) -> int:
        return int(self.git("rev-list", "--count", commit.hexsha, what="cannot count commits"))

    def is_shallow(self) -> bool:
        """A clone made with --depth: the history before its grafts is missing."""
        return (self.git_dir / "shallow").is_file()

    def gitlinks(self, tree: Tree) -> list[TreeEntry]:
        """The submodules (gitlinks) in a tree."""
        return [e for e in self.walk(tree) if e.mode == MODE_GITLINK]

    def submodule(self, path: PurePosixPath) -> GitSource | None:
        """The submodule checked out at `path` of the work tree (`git submodule update --init`), or None."""
        if self.work_tree is None or not (self.work_tree / path / ".git").exists():
            return None
        try:
            sub = GitSource.open(str(self.work_tree / path), Path("/nonexistent"), f"{self.location} submodule {path}")
        except InputError:
            return None
        return sub

    def close(self) -> None:
        self._batch.close()
