"""Whether the work tree has uncommitted changes, read from git's index and the files by us (no filter,
fsmonitor or diff program of the repository's config runs), answering as `git status
--untracked-files=no` does, or saying that it cannot tell where only git's conversion machinery could
(a split index, line-ending or filter conversions) — never a wrong "clean".

The index format is Documentation/gitformat-index.txt: versions 2 to 4, extended flags (skip-worktree,
intent-to-add), assume-valid, sparse directory entries, and extensions after the entries."""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from altai_release.git.objects import MODE_DIR, MODE_GITLINK, MODE_LINK

_ASSUME_VALID, _EXTENDED = 0x8000, 0x4000
_SKIP_WORKTREE, _INTENT_TO_ADD = 0x4000, 0x2000


@dataclass(frozen=True)
class IndexEntry:
    path: str
    mode: int
    size: int
    mtime_ns: int
    hexsha: str
    stage: int
    assume_valid: bool
    skip_worktree: bool
    intent_to_add: bool


@dataclass(frozen=True)
class Index:
    entries: list[IndexEntry]
    extensions: frozenset[bytes]  # their signatures: b"link" (split index), b"sdir" (sparse index), …


@dataclass(frozen=True)
class WorktreeState:
    dirty: bool | None  # None: cannot tell
    why: str = ""  # what changed, or why it cannot tell


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """git's offset varint (v4's prefix length): each continuation adds one before shifting."""
    byte = data[pos]
    pos += 1
    value = byte & 0x7F
    while byte & 0x80:
        byte = data[pos]
        pos += 1
        value = ((value + 1) << 7) | (byte & 0x7F)
    return value, pos


def parse_index(data: bytes) -> Index:
    """The entries and extensions of a git index file; ValueError when it is not one (truncated included)."""
    try:
        return _parse_index(data)
    except struct.error as exc:
        raise ValueError(f"a truncated git index: {exc}") from None


def _parse_index(data: bytes) -> Index:
    if data[:4] != b"DIRC":
        raise ValueError("not a git index")
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3, 4):
        raise ValueError(f"git index version {version}")
    pos, previous, entries = 12, b"", []
    for _ in range(count):
        _cs, _cn, ms, mn, _dev, _ino, mode, _uid, _gid, size = struct.unpack(">10I", data[pos : pos + 40])
        sha = data[pos + 40 : pos + 60].hex()
        (flags,) = struct.unpack(">H", data[pos + 60 : pos + 62])
        extended = 0
        head = 62
        if version >= 3 and flags & _EXTENDED:
            (extended,) = struct.unpack(">H", data[pos + 62 : pos + 64])
            head = 64
        start = pos + head
        if version == 4:
            strip, start = _varint(data, start)
            end = data.index(b"\0", start)
            name = previous[: len(previous) - strip] + data[start:end]
            pos = end + 1
        else:
            end = data.index(b"\0", start)
            name = data[start:end]
            pos = pos + ((head + len(name) + 8) // 8) * 8  # NUL padding to a multiple of 8
        previous = name
        entries.append(
            IndexEntry(
                name.decode("utf-8", "surrogateescape"),
                mode,
                size,
                ms * 10**9 + mn,
                sha,
                (flags >> 12) & 0x3,
                bool(flags & _ASSUME_VALID),
                bool(extended & _SKIP_WORKTREE),
                bool(extended & _INTENT_TO_ADD),
            )
        )
    extensions = set()
    while pos + 8 <= len(data) - 20:  # the trailing checksum
        signature, (length,) = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])
        extensions.add(signature)
        pos += 8 + length
    return Index(entries, frozenset(extensions))


@dataclass(frozen=True)
class Conversions:
    """What of the repository's configuration can make a file's bytes differ from its blob while git calls
    it unchanged: attributes (eol, text, filters, ident, encodings) or core.autocrlf / core.eol."""

    filemode: bool = True  # core.fileMode: the executable bit counts
    line_endings: bool = False  # some eol conversion may apply
    filters: bool = False  # a filter, ident or working-tree-encoding attribute may apply


def _blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def worktree_state(index_file: Path, top: Path, conversions: Callable[[], Conversions]) -> WorktreeState:
    """The work tree at `top` against the index at `index_file` (the index against HEAD is git's part).
    `conversions` is asked once, and only when a file's bytes or mode differ: a clean tree, the common case,
    needs no `git config`."""
    conversions = functools.cache(conversions)
    try:
        stamp = index_file.stat().st_mtime_ns
        index = parse_index(index_file.read_bytes())
    except FileNotFoundError:
        return WorktreeState(False)  # no index: nothing checked out to differ
    except (OSError, ValueError, struct.error, IndexError) as exc:
        return WorktreeState(None, f"its index cannot be read ({exc})")
    if b"link" in index.extensions:
        return WorktreeState(None, "it uses a split index (core.splitIndex)")
    for entry in index.entries:
        changed = _entry_changed(entry, top, stamp, conversions)
        if changed is not None:
            return changed
    return WorktreeState(False)


def _entry_changed(
    entry: IndexEntry, top: Path, stamp: int, conversions: Callable[[], Conversions]
) -> WorktreeState | None:
    if entry.stage != 0:
        return WorktreeState(True, f"{entry.path} is unmerged")
    if entry.intent_to_add:
        return WorktreeState(True, f"{entry.path} is to be added (git add -N)")
    if entry.skip_worktree or entry.assume_valid or entry.mode in (MODE_DIR, MODE_GITLINK):
        return None  # sparse or trusted as git trusts it; a sparse directory; a submodule's own repository
    file = top / entry.path
    try:
        st = os.lstat(file)
    except OSError:
        return WorktreeState(True, f"{entry.path} is deleted")
    is_link = entry.mode == MODE_LINK
    if is_link != os.path.islink(file) or not (is_link or os.path.isfile(file)):
        return WorktreeState(True, f"{entry.path} changed its type")
    if not is_link and bool(st.st_mode & 0o100) != bool(entry.mode & 0o100) and conversions().filemode:
        return WorktreeState(True, f"{entry.path} changed its executable bit")
    racy = st.st_mtime_ns >= stamp  # written in the index's own tick: its stat data cannot vouch for it
    if not racy and (st.st_size, st.st_mtime_ns) == (entry.size, entry.mtime_ns):
        return None  # git's own fast path: as the index saw it
    content = os.fsencode(os.readlink(file)) if is_link else file.read_bytes()
    if _blob_id(content) == entry.hexsha:
        return None
    if not is_link and conversions().filters:
        return WorktreeState(None, f"{entry.path} differs from its blob, and a filter attribute may apply")
    if not is_link and conversions().line_endings and _blob_id(content.replace(b"\r\n", b"\n")) == entry.hexsha:
        return WorktreeState(None, f"{entry.path} differs from its blob in line endings only, which git may convert")
    return WorktreeState(True, f"{entry.path} is modified")


def attribute_files(index: Index) -> Iterator[str]:
    return (e.path for e in index.entries if e.path == ".gitattributes" or e.path.endswith("/.gitattributes"))
