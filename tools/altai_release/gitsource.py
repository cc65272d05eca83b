"""The git side of the pipeline: open a repository (a local path or a URL), resolve refs to commits,
read files and trees *of a commit* (never of the work tree). The one wrapper of git: plumbing commands
(rev-parse, cat-file --batch, rev-list, diff-index) run through `runner` or one long-lived `cat-file`
process per repository whose objects we parse ourselves; every failure becomes a GitError or InputError
that names the repository and the ref or path. (GitPython did this before; its import alone was a third
of the time of a small SRPM.)

A local repository is not ours: its `.git/config` can name programs that git runs (core.fsmonitor, filter
drivers, external diff, hooks). We run only commands that read objects and refs, with core.fsmonitor off
and no hooks; paths are literal pathspecs; the dirty-tree check reads the index and the files ourselves
instead of asking `git diff` (which would run filters). A repository owned by another user is refused
as git refuses it (safe.directory), with git's own advice."""

from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess
import tempfile
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from . import runner
from .errors import GitError, InputError
from .paths import check_not_option, is_git_url

_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "/bin/false",
    "SSH_ASKPASS": "/bin/false",
    "GIT_LITERAL_PATHSPECS": "1",  # a path named ':(glob)*' is that path
}
# a repository's own config must not make git run a program of its choosing while we read it
_SAFE = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")
MODE_DIR, MODE_LINK, MODE_GITLINK = 0o040000, 0o120000, 0o160000


@dataclass(frozen=True)
class Commit:
    hexsha: str
    tree: str  # the root tree's id
    committed_date: int  # the committer time, seconds since the epoch


@dataclass(frozen=True)
class Tree:
    hexsha: str
    path: PurePosixPath  # where it is in its commit (for messages)


@dataclass(frozen=True)
class TreeEntry:
    path: PurePosixPath  # relative to the tree that was walked
    mode: int  # git mode: 0o100644, 0o100755, 0o120000 (symlink), 0o040000 (dir), 0o160000 (gitlink)
    hexsha: str  # the object id (for a gitlink: the submodule's commit)


class GitSource:
    """A git repository the pipeline reads commits from."""

    def __init__(self, git_dir: Path, work_tree: Path | None, location: str, is_local: bool) -> None:
        self.git_dir = git_dir
        self.work_tree = work_tree  # None for a bare repository
        self.location = location  # how messages name the repository: the path or URL the user gave
        self.is_local = is_local
        self._batch: subprocess.Popen[bytes] | None = None
        self._batch_errors: IO[bytes]

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
            return found
        if not is_git_url(location):
            raise InputError(f"{location}: no such directory, and not a git URL")
        argv = ["git", *_SAFE, "clone", "--bare", "--quiet", "--", location, str(clone_dir)]
        proc = runner.run(argv, GitError, f"{location}: cannot clone", env=_GIT_ENV, timeout=3600, check=False)
        if proc.returncode != 0:
            said = runner.text(proc.stderr)
            why = runner.reason(said, ("fatal:", "error:")) or f"exit status {proc.returncode}"
            raise GitError(f"{location}: cannot clone: {why}", argv, said, proc.returncode)
        return cls(clone_dir.absolute(), None, location, is_local=False)

    # -- running git ---------------------------------------------------------------------------------------

    def _check_owner(self, top: Path) -> None:
        """git's safe.directory rule, which git applies only when it finds a repository itself (we name it
        with --git-dir): a repository owned by another user is refused unless configured as safe."""
        me = os.geteuid()
        if me == 0 and os.environ.get("SUDO_UID", "").isdigit():
            me = int(os.environ["SUDO_UID"])  # as git does under sudo
        if all(p.stat().st_uid == me for p in (top, self.git_dir)):
            return
        proc = runner.run(
            # from / : the system and global settings only, as git reads safe.directory (never a repository's)
            ["git", "-C", "/", "config", "--get-all", "safe.directory"],
            GitError,
            "read safe.directory",
            env=_GIT_ENV,
            check=False,
        )
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

    def git(self, *args: str, what: str) -> str:
        """A plumbing command in this repository; its stdout."""
        argv = ["git", *_SAFE, "--git-dir", str(self.git_dir), *args]
        proc = runner.run(argv, GitError, f"{self.location}: {what}", env=_GIT_ENV, check=False)
        if proc.returncode != 0:
            said = runner.text(proc.stderr)
            refused = self._refused(said)
            if refused is not None:
                raise refused
            why = runner.reason(said, ("fatal:", "error:")) or f"exit status {proc.returncode}"
            raise GitError(f"{self.location}: {what}: {why}", argv, said, proc.returncode)
        return runner.text(proc.stdout)

    def _cat_file(self) -> subprocess.Popen[bytes]:
        """The repository's one `git cat-file --batch`, started on first use."""
        if self._batch is None:
            # what git says goes to a file: it is read only when git stops, and a pipe could fill and block it
            self._batch_errors = tempfile.TemporaryFile()
            argv = ["git", *_SAFE, "--git-dir", str(self.git_dir), "cat-file", "--batch"]
            self._batch = subprocess.Popen(  # noqa: S603 - an argv list, no shell
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._batch_errors,
                env={**os.environ, **_GIT_ENV},
            )
        return self._batch

    def _answer(self, name: str) -> tuple[str, str, bytes] | None:
        """cat-file's answer to one name asked before: (id, type, content), None when missing."""
        batch = self._cat_file()
        assert batch.stdout is not None
        try:
            line = batch.stdout.readline()
            if not line:  # git stopped: it refused the repository, or could not read it
                raise self._batch_failed()
            header = line.split()
            if len(header) != 3:
                return None  # "<name> missing" (or ambiguous)
            size = int(header[2])
            content = batch.stdout.read(size + 1)[:size]
        except (OSError, ValueError) as exc:
            raise GitError(f"{self.location}: cannot read object {name!r}: {exc}") from exc
        return header[0].decode(), header[1].decode(), content

    def _object(self, name: str) -> tuple[str, str, bytes] | None:
        """(id, type, content) of an object named as `git cat-file` names them, or None when missing."""
        if "\n" in name or "\0" in name:
            return None
        batch = self._cat_file()
        assert batch.stdin is not None
        try:
            batch.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
            batch.stdin.flush()
        except BrokenPipeError:
            raise self._batch_failed() from None
        return self._answer(name)

    def blobs(self, hexshas: Sequence[str]) -> Generator[bytes, None, None]:
        """The contents of many blobs, in order, asked of git all at once (a thread writes the names while
        this reads the answers: one round trip per object cost more than packing a tree)."""
        batch = self._cat_file()
        assert batch.stdin is not None
        stdin = batch.stdin

        def ask() -> None:
            try:
                stdin.write(b"".join(h.encode() + b"\n" for h in hexshas))
                stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # git stopped; the reader says why

        writer = threading.Thread(target=ask, daemon=True)
        writer.start()
        answered = 0
        try:
            for hexsha in hexshas:
                found = self._answer(hexsha)
                if found is None or found[1] != "blob":
                    raise GitError(f"{self.location}: object {hexsha} is not a blob of this repository")
                answered += 1
                yield found[2]
        finally:
            if answered < len(hexshas) and self._batch is not None:
                self._batch.kill()  # answers left unread: this process cannot serve another question
                self.close()
            writer.join()

    def _batch_failed(self) -> InputError | GitError:
        assert self._batch is not None
        self._batch.wait()
        self._batch_errors.seek(0)
        said = runner.text(self._batch_errors.read())
        self.close()
        return self._refused(said) or GitError(
            f"{self.location}: cannot read the repository: {runner.reason(said, ('fatal:', 'error:')) or said.strip()}",
            ["git", "cat-file", "--batch"],
            said,
        )

    def read_blob(self, hexsha: str) -> bytes:
        found = self._object(hexsha)
        if found is None or found[1] != "blob":
            raise GitError(f"{self.location}: object {hexsha} is not a blob of this repository")
        return found[2]

    def _tree_entries(self, hexsha: str) -> list[tuple[int, str, str]]:
        """(mode, name, id) of a tree object's entries, parsed from git's binary tree format."""
        found = self._object(hexsha)
        if found is None or found[1] != "tree":
            raise GitError(f"{self.location}: object {hexsha} is not a tree of this repository")
        data, entries, pos = found[2], [], 0
        while pos < len(data):
            space = data.index(b" ", pos)
            nul = data.index(b"\0", space)
            mode = int(data[pos:space], 8)
            name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
            if name in ("", ".", "..") or "/" in name:  # git never writes these; a crafted object can
                raise GitError(f"{self.location}: tree {hexsha} has an entry named {name!r}")
            entries.append((mode, name, data[nul + 1 : nul + 21].hex()))
            pos = nul + 21
        return entries

    # -- commits, trees, files ---------------------------------------------------------------------------------

    def resolve(self, ref: str) -> Commit:
        """The commit a ref names, as `git rev-parse` understands it (reflog forms like HEAD@{1} too)."""
        check_not_option("ref", ref)
        try:
            found = self._object(f"{ref}^{{commit}}")
        except GitError as exc:  # git gave up on the name itself (a reflog entry that is not there)
            raise InputError(f"{self.location}: unknown ref {ref!r} ({exc.stderr_tail or exc})") from None
        if found is None:
            kind = self._object(ref)
            if kind is not None and kind[1] not in ("commit", "tag"):
                raise InputError(f"{self.location}: ref {ref!r} is a {kind[1]}, not a commit")
            raise InputError(f"{self.location}: unknown ref {ref!r}")
        hexsha, _, content = found
        tree, committed = "", 0
        for line in content.split(b"\n"):
            if not line:
                break  # the message follows
            if line.startswith(b"tree "):
                tree = line[5:].decode()
            elif line.startswith(b"committer "):
                committed = int(line.rsplit(b" ", 2)[1])
        return Commit(hexsha, tree, committed)

    def _entry(self, commit: Commit, path: PurePosixPath) -> tuple[int, str] | None:
        """(mode, id) of a path in the commit, followed tree by tree; None when absent."""
        mode, hexsha = MODE_DIR, commit.tree
        for part in path.parts:
            if mode != MODE_DIR:
                return None
            match = next(((m, h) for m, n, h in self._tree_entries(hexsha) if n == part), None)
            if match is None:
                return None
            mode, hexsha = match
        return mode, hexsha

    def tree(self, commit: Commit, path: PurePosixPath) -> Tree:
        found = self._entry(commit, path)
        if found is None:
            raise InputError(f"{self.location}: no directory {str(path)!r} at {commit.hexsha[:12]}")
        if found[0] != MODE_DIR:
            raise InputError(f"{self.location}: {str(path)!r} at {commit.hexsha[:12]} is not a directory")
        return Tree(found[1], path)

    def read_file(self, commit: Commit, path: PurePosixPath) -> bytes | None:
        """The bytes of a file at the commit, or None when there is no such regular file."""
        found = self._entry(commit, path)
        if found is None or found[0] in (MODE_DIR, MODE_LINK, MODE_GITLINK):
            return None
        return self.read_blob(found[1])

    def blob_id(self, commit: Commit, path: PurePosixPath) -> str | None:
        """The git object id of a path at the commit (a file's blob), None when absent."""
        found = self._entry(commit, path)
        return None if found is None else found[1]

    def list_files(self, commit: Commit, directory: PurePosixPath) -> list[str]:
        """Names of the regular files directly in `directory` at the commit."""
        tree = self.tree(commit, directory)
        return sorted(n for m, n, _ in self._tree_entries(tree.hexsha) if m not in (MODE_DIR, MODE_LINK, MODE_GITLINK))

    def walk(self, tree: Tree) -> Iterator[TreeEntry]:
        """Every entry below `tree`, depth-first in byte order of the path (stable across runs)."""
        entries: list[TreeEntry] = []
        pending = [(PurePosixPath(), tree.hexsha)]
        while pending:
            base, hexsha = pending.pop()
            for mode, name, child in self._tree_entries(hexsha):
                entries.append(TreeEntry(base / name, mode, child))
                if mode == MODE_DIR:
                    pending.append((base / name, child))
        # a name that is not UTF-8 is kept as git stores it (surrogate escapes), also for the sort
        entries.sort(key=lambda e: str(e.path).encode("utf-8", "surrogateescape"))
        return iter(entries)

    def last_change_time(self, commit: Commit, paths: list[PurePosixPath]) -> int:
        """Commit time of the last commit at or before `commit` that touched any of `paths` (the whole tree
        when one of them is the root): a package's own time, unmoved by commits elsewhere in the repo."""
        if any(not p.parts for p in paths):
            return commit.committed_date
        out = self.git(
            "rev-list", "-1", "--format=%ct", commit.hexsha, "--", *map(str, paths), what="cannot read the history"
        )
        lines = out.split()
        return int(lines[-1]) if len(lines) >= 2 else commit.committed_date

    def is_shallow(self) -> bool:
        """A clone made with --depth: the history before its grafts is missing."""
        return (self.git_dir / "shallow").is_file()

    def is_dirty(self) -> bool:
        """Whether a tracked file differs from the commit checked out (a warning only)."""
        if not self.is_local or self.work_tree is None:
            return False
        try:
            self.git("diff-index", "--cached", "--quiet", "HEAD", "--", what="compare the index with HEAD")
        except GitError:
            return True  # exit status 1: the index differs from HEAD (or there is no HEAD)
        return worktree_differs(self.git_dir / "index", self.work_tree)

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

    def commit_count(self, commit: Commit) -> int:
        return int(self.git("rev-list", "--count", commit.hexsha, what="cannot count commits"))

    def close(self) -> None:
        if self._batch is not None:
            assert self._batch.stdin is not None
            try:
                self._batch.stdin.close()
            except BrokenPipeError:
                pass  # git has stopped already
            self._batch.wait()
            if self._batch.stdout is not None:
                self._batch.stdout.close()
            self._batch_errors.close()
            self._batch = None


_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_PLAIN_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def peek_ref(location: str, ref: str) -> str | None:
    """The object id a plain ref names in a local repository, read from its ref files in git's own order
    (refs/<ref>, refs/tags/, refs/heads/, refs/remotes/; loose before packed) without running git; None
    whenever it is not that simple (git then answers). For a fast path only: a caller trusts it just to
    recognise the commit it saw before."""
    git_dir = Path(location) / ".git"
    if not git_dir.is_dir() or (git_dir / "commondir").exists():
        return None
    if _HEX40.match(ref):
        return ref
    if ref != "HEAD" and (not _PLAIN_REF.match(ref) or ".." in ref or ref.endswith((".lock", "/", "."))):
        return None
    if ref == "HEAD" or ref.startswith("refs/"):
        candidates = [ref]
    elif ref.isupper():
        return None  # FETCH_HEAD and other pseudo-refs
    else:
        candidates = [
            f"refs/{ref}",
            f"refs/tags/{ref}",
            f"refs/heads/{ref}",
            f"refs/remotes/{ref}",
            f"refs/remotes/{ref}/HEAD",
        ]
    packed: dict[str, str] | None = None
    for name in candidates:
        for _ in range(5):  # a symbolic ref (HEAD -> refs/heads/main), a few levels at most
            try:
                value = (git_dir / name).read_text(encoding="utf-8").strip()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                if packed is None:
                    packed = _packed_refs(git_dir)
                value = packed.get(name, "")
            except (OSError, UnicodeDecodeError):
                return None
            if value.startswith("ref: "):
                name = value.removeprefix("ref: ")
                if not name.startswith("refs/") or ".." in name.split("/"):
                    return None
                continue
            if _HEX40.match(value):
                return value
            break  # not this candidate (an unborn branch is "no such ref" too)
    return None


def _packed_refs(git_dir: Path) -> dict[str, str]:
    try:
        lines = (git_dir / "packed-refs").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    refs = {}
    for line in lines:
        if line and line[0] not in "#^":
            sha, _, name = line.partition(" ")
            refs[name] = sha
    return refs


def _index_entries(index: bytes) -> Iterator[tuple[str, int, int, int, int, str]]:
    """(path, mode, size, mtime seconds, mtime nanoseconds, id) of each stage-0 entry of a git index
    (versions 2 to 4; the format of Documentation/gitformat-index.txt)."""
    if index[:4] != b"DIRC":
        raise ValueError("not a git index")
    version, count = struct.unpack(">II", index[4:12])
    if version not in (2, 3, 4):
        raise ValueError(f"git index version {version}")
    pos, previous = 12, b""
    for _ in range(count):
        _cs, _cn, ms, mn, _dev, _ino, mode, _uid, _gid, size = struct.unpack(">10I", index[pos : pos + 40])
        sha = index[pos + 40 : pos + 60].hex()
        (flags,) = struct.unpack(">H", index[pos + 60 : pos + 62])
        pos += 62
        if version >= 3 and flags & 0x4000:
            pos += 2  # extended flags
        if version == 4:
            strip, shift = 0, 0
            while True:  # the varint of how much of the previous path to drop (offset encoding)
                byte = index[pos]
                pos += 1
                strip = (strip << 7) | (byte & 0x7F) if shift else byte & 0x7F
                if not byte & 0x80:
                    break
                strip += 1
                shift += 7
            end = index.index(b"\0", pos)
            name = previous[: len(previous) - strip] + index[pos:end]
            pos = end + 1
        else:
            end = index.index(b"\0", pos)
            name = index[pos:end]
            entry_len = 62 + (2 if version >= 3 and flags & 0x4000 else 0) + len(name)
            pos = end + (8 - entry_len % 8)  # NUL padding to a multiple of 8
        previous = name
        if (flags >> 12) & 0x3 == 0:  # stage 0: not an unmerged path
            yield name.decode("utf-8", "surrogateescape"), mode, size, ms, mn, sha


def worktree_differs(index_file: Path, top: Path) -> bool:
    """Compared by us (the index's blob ids against the files' contents) so that no filter or fsmonitor
    program of the repository's config runs."""
    try:
        entries = list(_index_entries(index_file.read_bytes()))
    except (OSError, ValueError, struct.error, IndexError):
        return False
    for path, mode, size, mtime, mtime_ns, hexsha in entries:
        if mode == MODE_GITLINK:  # a submodule: its own repository
            continue
        file = top / path
        if os.path.islink(file):
            content = os.fsencode(os.readlink(file))
        elif file.is_file():
            stat = file.stat()
            if stat.st_size != size:
                return True
            if (stat.st_mtime_ns // 10**9, stat.st_mtime_ns % 10**9) == (mtime, mtime_ns):
                continue  # as git's own fast path: same size and time as when the index saw it
            content = file.read_bytes()
        else:
            return True
        digest = hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()
        if digest != hexsha:
            return True
    return False
