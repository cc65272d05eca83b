"""Reading a repository's objects through its `cat-file --batch`: blobs, trees and commits, a path of a
commit followed tree by tree, and a tree walked in byte order."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from pathlib import PurePosixPath

from altai_release.core.errors import GitError, InputError
from altai_release.core.paths import check_not_option
from altai_release.git.batch import CatFileBatch
from altai_release.git.objects import (
    MODE_DIR,
    MODE_GITLINK,
    MODE_LINK,
    Commit,
    Tree,
    TreeEntry,
    parse_commit,
    parse_tree,
)


class ObjectReader:
    location: str
    _batch: CatFileBatch

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
