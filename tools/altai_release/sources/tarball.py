"""SourceTarball: a reproducible tar archive of a git tree.

Written by us rather than by `git archive` so that every byte is under our control and does not depend
on the git version: entries sorted by path, every mtime the commit's time, owner root:root (uid/gid 0),
modes 0644/0755 from git, symlinks kept, submodules left out unless their trees are given (at the commits
the gitlinks record), compression without names or times, at gzip's and git archive's default level (6).
As `git archive` does, the commit's `export-ignore` attribute leaves a path out and `export-subst` expands
`$Format:…$` in a file with the commit's data (so the bytes stay a function of the commit); line-ending
conversions and filters are not applied: files are packed as committed.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, cast

from altai_release.core.errors import InputError
from altai_release.git import MODE_DIR, MODE_GITLINK, MODE_LINK, Commit, GitSource, Tree, TreeEntry


def _gzip(raw: BinaryIO) -> IO[bytes]:
    # no file name and mtime 0 in the gzip header: the bytes depend on the content only
    return cast(IO[bytes], gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6))


def _bzip2(raw: BinaryIO) -> IO[bytes]:
    return cast(IO[bytes], bz2.BZ2File(raw, mode="wb", compresslevel=9))


def _xz(raw: BinaryIO) -> IO[bytes]:
    return cast(IO[bytes], lzma.LZMAFile(raw, mode="wb", format=lzma.FORMAT_XZ, preset=6))


_COMPRESSORS: dict[str, Callable[[BinaryIO], IO[bytes]]] = {
    ".tar.gz": _gzip,
    ".tgz": _gzip,
    ".tar.bz2": _bzip2,
    ".tar.xz": _xz,
    ".txz": _xz,
}


_FORMAT = re.compile(rb"\$Format:([^$\n]*)\$")
SUBST_LIMIT = 64 * 1024 * 1024  # bytes export-subst may add to one archive: far beyond any version stamp


def compression_for(filename: str) -> str:
    """The archive suffix of a Source0 file name, or an error naming it."""
    if filename.endswith(".tar"):
        return ".tar"
    for suffix in _COMPRESSORS:
        if filename.endswith(suffix):
            return suffix
    known = ", ".join([".tar", *_COMPRESSORS])
    raise InputError(f"Source0 {filename!r}: git2srpm can make only {known} archives")


class TarballStopped(Exception):
    """The writer was asked to stop."""


@dataclass(frozen=True)
class SourceTarball:
    source: GitSource
    tree: Tree
    top: str  # the archive's top directory, NAME-VERSION
    mtime: int  # the commit's time
    # gitlinks of `tree` (paths relative to it) whose trees go into the archive: the submodule's source and
    # its tree at the recorded commit
    submodules: Mapping[PurePosixPath, tuple[GitSource, Tree]] = field(default_factory=dict)
    commit: Commit | None = None  # whose attributes apply (export-ignore, export-subst); None: none
    # the files whose `$Format:…$` placeholders are expanded, found while the entries are listed
    _subst: set[PurePosixPath] = field(default_factory=set, init=False, repr=False, compare=False)
    # each distinct `$Format:…$` of the archive as git formats it, and the bytes the expansions added
    _formatted: dict[bytes, bytes] = field(default_factory=dict, init=False, repr=False, compare=False)
    _added: list[int] = field(default_factory=lambda: [0], init=False, repr=False, compare=False)

    def write(self, dest: Path, stop: Callable[[], bool] = lambda: False) -> None:
        """`stop`, asked between files, ends the writing with TarballStopped (the file is left half made)."""
        suffix = compression_for(dest.name)
        with open(dest, "wb") as raw:
            if suffix == ".tar":
                self._write_tar(raw, stop)
            else:
                # tarfile writes a header at a time: buffered, the compressor gets a few large writes (the
                # stream it makes does not depend on how its input was cut)
                with _COMPRESSORS[suffix](raw) as packed, io.BufferedWriter(packed, 1 << 20) as buffered:
                    self._write_tar(buffered, stop)

    def _expand(self, data: bytes, name: str) -> bytes:
        """`$Format:FMT$` replaced by the commit formatted with FMT, as git archive's export-subst does: each
        distinct format asked of git once for the whole archive (in batches), and what the expansions add
        bounded by SUBST_LIMIT in all."""
        assert self.commit is not None
        wanted = list(dict.fromkeys(m.group(1) for m in _FORMAT.finditer(data) if m.group(1) not in self._formatted))
        if wanted:
            room = SUBST_LIMIT - self._added[0]
            texts = [f.decode("utf-8", "surrogateescape") for f in wanted]
            for fmt, out in zip(wanted, self.source.pretty(self.commit, texts, room), strict=True):
                self._formatted[fmt] = out
        # the size first: 1,500 placeholders of a 1 MB message must not be built to be refused
        self._added[0] += sum(len(self._formatted[m.group(1)]) - len(m.group(0)) for m in _FORMAT.finditer(data))
        if self._added[0] > SUBST_LIMIT:
            raise InputError(
                f"{name}: export-subst makes the archive more than {SUBST_LIMIT} bytes larger (git2srpm's limit): "
                "refused"
            )
        return _FORMAT.sub(lambda m: self._formatted[m.group(1)], data)

    def _info(self, name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.mtime = self.mtime
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    def _write_tar(self, out: IO[bytes], stop: Callable[[], bool]) -> None:
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(self._info(self.top + "/", tarfile.DIRTYPE, 0o755))
            entries = self._entries()
            # each repository's blobs asked for at once, read back in the archive's order
            wanted: dict[GitSource, list[str]] = {}
            for source, entry in entries:
                if entry.mode not in (MODE_DIR, MODE_GITLINK):
                    wanted.setdefault(source, []).append(entry.hexsha)
            contents = {source: source.blobs(hexshas) for source, hexshas in wanted.items()}
            try:
                for source, entry in entries:
                    if stop():
                        raise TarballStopped(self.top)
                    name = str(PurePosixPath(self.top) / entry.path)
                    if entry.mode == MODE_DIR:
                        tar.addfile(self._info(name + "/", tarfile.DIRTYPE, 0o755))
                    elif entry.mode == MODE_LINK:
                        info = self._info(name, tarfile.SYMTYPE, 0o777)
                        info.linkname = next(contents[source]).decode("utf-8", "surrogateescape")
                        tar.addfile(info)
                    elif entry.mode != MODE_GITLINK:
                        data = next(contents[source])
                        if source is self.source and entry.path in self._subst:
                            data = self._expand(data, name)
                        info = self._info(name, tarfile.REGTYPE, 0o755 if entry.mode & 0o111 else 0o644)
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
                    # other gitlinks (submodules) have no content in this repository: left out, as git archive does
            finally:
                for stream in contents.values():
                    stream.close()

    def _entries(self) -> list[tuple[GitSource, TreeEntry]]:
        """The tree's entries (with the repository that holds each), each given submodule's tree in place of
        its gitlink, in byte order; without what `export-ignore` leaves out."""
        entries: list[tuple[GitSource, TreeEntry]] = []
        attributes = self.source.archive_attributes(self.commit, self.tree.path) if self.commit else None
        ignored: set[PurePosixPath] = set()
        for entry in self.source.walk(self.tree):
            if attributes is not None:
                where = self.tree.path / entry.path
                is_dir = entry.mode == MODE_DIR
                if any(p in ignored for p in entry.path.parents) or attributes.is_set(where, "export-ignore", is_dir):
                    ignored.add(entry.path)
                    continue
                if entry.mode not in (MODE_DIR, MODE_LINK, MODE_GITLINK) and attributes.is_set(where, "export-subst"):
                    self._subst.add(entry.path)
            if entry.mode == MODE_GITLINK and entry.path in self.submodules:
                sub_source, sub_tree = self.submodules[entry.path]
                entries.append((sub_source, TreeEntry(entry.path, MODE_DIR, sub_tree.hexsha)))
                entries += [
                    (sub_source, TreeEntry(entry.path / e.path, e.mode, e.hexsha)) for e in sub_source.walk(sub_tree)
                ]
            else:
                entries.append((self.source, entry))
        entries.sort(key=lambda e: str(e[1].path).encode("utf-8", "surrogateescape"))
        return entries


def submodule_trees(
    source: GitSource,
    commit: Commit,
    subdir: PurePosixPath,
    tree: Tree,
    include: bool,
    warn: Callable[[str], None],
) -> dict[PurePosixPath, tuple[GitSource, Tree]]:
    """With `include`, each gitlink's tree at its recorded commit from the submodule's local clone; without,
    a warning naming each one left out."""
    found: dict[PurePosixPath, tuple[GitSource, Tree]] = {}
    for link in source.gitlinks(tree):
        recorded = link.hexsha
        where = subdir / link.path
        if not include:
            warn(f"submodule {where} (commit {recorded[:12]}) is left out of the tarball; --submodules includes it")
            continue
        sub = source.submodule(where)
        if sub is None:
            raise InputError(
                f"{source.location}: submodule {where} has no local clone; run 'git submodule update "
                "--init' (or build without --submodules)"
            )
        try:
            commit = sub.resolve(recorded)
            found[link.path] = (sub, Tree(commit.tree, where))
        except InputError as exc:
            sub.close()
            raise InputError(
                f"{source.location}: submodule {where}: its clone lacks commit {recorded[:12]}; "
                "run 'git submodule update'"
            ) from exc
    return found
