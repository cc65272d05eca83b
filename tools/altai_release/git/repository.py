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
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path, PurePosixPath

from .. import runner
from ..errors import GitError, InputError
from ..paths import check_not_option, is_git_url
from .attributes import Attributes, parse_rules
from .batch import CatFileBatch
from .index import Conversions, WorktreeState, attribute_files, parse_index, worktree_state
from .objects import MODE_DIR, MODE_GITLINK, MODE_LINK, Commit, Tree, TreeEntry, parse_commit, parse_tree

GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "/bin/false",
    "SSH_ASKPASS": "/bin/false",
    "GIT_LITERAL_PATHSPECS": "1",  # a path named ':(glob)*' is that path
    "GIT_NO_REPLACE_OBJECTS": "1",  # refs/replace/* would change what a commit id packs
}
# a repository's own config must not make git run a program of its choosing while we read it
SAFE = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "gpg.program=/bin/false",
        "-c", "gpg.ssh.program=/bin/false", "-c", "gpg.x509.program=/bin/false")  # fmt: skip


class GitSource:
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
            return found
        if not is_git_url(location):
            raise InputError(f"{location}: no such directory, and not a git URL")
        argv = ["git", *SAFE, "clone", "--bare", "--quiet", "--", location, str(clone_dir)]
        proc = runner.run(argv, GitError, f"{location}: cannot clone", env=GIT_ENV, timeout=3600, check=False)
        if proc.returncode != 0:
            said = runner.text(proc.stderr)
            why = runner.reason(said, ("fatal:", "error:")) or f"exit status {proc.returncode}"
            raise GitError(f"{location}: cannot clone: {why}", argv, said, proc.returncode)
        return cls(clone_dir.absolute(), None, location, is_local=False)

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

    def blobs(self, hexshas: Sequence[str]) -> Generator[bytes, None, None]:
        return self._batch.blobs(hexshas)

    def read_blob(self, hexsha: str) -> bytes:
        found = self._batch.object(hexsha)
        if found is None or found[1] != "blob":
            raise GitError(f"{self.location}: object {hexsha} is not a blob of this repository")
        return found[2]

    def _tree_entries(self, hexsha: str) -> list[tuple[int, str, str]]:
        found = self._batch.object(hexsha)
        if found is None or found[1] != "tree":
            raise GitError(f"{self.location}: object {hexsha} is not a tree of this repository")
        return parse_tree(self.location, hexsha, found[2])

    def resolve(self, ref: str) -> Commit:
        """The commit a ref names, as `git rev-parse` understands it (reflog forms like HEAD@{1} too)."""
        check_not_option("ref", ref)
        if not ref or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in ref):
            raise InputError(f"{self.location}: ref {ref!r} has a space or control character: not a ref")
        try:
            found = self._batch.object(f"{ref}^{{commit}}")
        except GitError as exc:  # git gave up on the name itself (a reflog entry that is not there)
            raise InputError(f"{self.location}: unknown ref {ref!r} ({exc.stderr_tail or exc})") from None
        if found is None:
            kind = self._batch.object(ref)
            if kind is not None and kind[1] not in ("commit", "tag"):
                raise InputError(f"{self.location}: ref {ref!r} is a {kind[1]}, not a commit")
            raise InputError(f"{self.location}: unknown ref {ref!r}")
        return parse_commit(self.location, found[0], found[2])

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

    def archive_attributes(self, commit: Commit, packed: PurePosixPath) -> Attributes:
        """The attributes `git archive` applies to the commit's tree: `.gitattributes` of the root, of each
        directory down to `packed` and within it, then `$GIT_DIR/info/attributes`."""
        rules = []
        directories = [PurePosixPath(*packed.parts[:i]) for i in range(len(packed.parts))]
        files = [d / ".gitattributes" for d in directories]
        files += [packed / e.path for e in self.walk(self.tree(commit, packed)) if e.path.name == ".gitattributes"]
        for file in files:
            content = self.read_file(commit, file)
            if content is not None:
                rules += parse_rules(content.decode("utf-8", "replace"), file.parent)
        info = self.git_dir / "info" / "attributes"
        if info.is_file():
            rules += parse_rules(info.read_text(encoding="utf-8", errors="replace"), PurePosixPath())
        return Attributes(rules)

    def pretty(self, commit: Commit, fmt: str) -> str:
        """`git log --format=FMT` of one commit, as export-subst expands `$Format:FMT$` (signature
        placeholders run no program: gpg is /bin/false here)."""
        return self.git("log", "-1", "--no-show-signature", f"--format={fmt}", commit.hexsha, what="format a commit")

    def worktree_state(self) -> WorktreeState:
        """Whether tracked files differ from the commit checked out, as `git status --untracked-files=no`."""
        if not self.is_local or self.work_tree is None:
            return WorktreeState(False)
        if self._index_differs_from_head():
            return WorktreeState(True, "changes are staged")
        return worktree_state(self.git_dir / "index", self.work_tree, self._conversions)

    def _index_differs_from_head(self) -> bool:
        argv = ["git", *SAFE, "--git-dir", str(self.git_dir), "diff-index", "--cached", "--quiet", "HEAD", "--"]
        proc = runner.run(argv, GitError, f"{self.location}: compare the index with HEAD", env=GIT_ENV, check=False)
        return proc.returncode != 0

    def _conversions(self) -> Conversions:
        """What of the configuration can make a file's bytes differ from its blob while git calls it clean."""
        said = self.git("config", "--get-regexp", r"^core\.(autocrlf|eol|filemode|attributesfile)$",
                        what="read the configuration", check=False)  # fmt: skip
        config = dict(line.partition(" ")[::2] for line in said.lower().splitlines())
        texts = []
        try:
            index = parse_index((self.git_dir / "index").read_bytes())
            texts += [(self.work_tree or self.git_dir) / p for p in attribute_files(index)]
        except (OSError, ValueError, IndexError):
            pass
        texts.append(self.git_dir / "info" / "attributes")
        attributes_file = config.get("core.attributesfile")
        global_default = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "git" / "attributes"
        texts.append(Path(os.path.expanduser(attributes_file)) if attributes_file else global_default)
        words = " ".join(p.read_text(errors="replace") for p in texts if p.is_file())
        eol = config.get("core.autocrlf", "false") in ("true", "input") or config.get("core.eol") == "crlf"
        return Conversions(
            filemode=config.get("core.filemode", "true") not in ("false", "no", "off", "0"),
            line_endings=eol or any(w in words for w in ("eol", "text", "crlf")),
            filters=any(w in words for w in ("filter", "ident", "working-tree-encoding")),
        )

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
