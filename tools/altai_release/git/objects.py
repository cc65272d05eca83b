"""git's objects as this tool reads them: commits and trees parsed from the bytes `cat-file` gives, with a
crafted object (a mode that is not octal, a committer line without a time, a time past any calendar, an
entry named `..`) refused as one error naming the repository and the object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from altai_release.core.errors import InputError

MODE_DIR, MODE_LINK, MODE_GITLINK = 0o040000, 0o120000, 0o160000
_MODES = {0o100644, 0o100755, 0o100664, MODE_LINK, MODE_DIR, MODE_GITLINK}
MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z: what a file time and a tar header can hold


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


def parse_commit(location: str, hexsha: str, content: bytes) -> Commit:
    """The tree and committer time of a commit object."""
    tree, committed = "", None
    for line in content.split(b"\n"):
        if not line:
            break  # the message follows
        if line.startswith(b"tree "):
            tree = line[5:].decode("ascii", "replace")
        elif line.startswith(b"committer "):
            # "committer NAME <EMAIL> TIME ZONE": the time is the second field from the end
            fields = line.rsplit(b" ", 2)
            when = fields[1] if len(fields) == 3 else b""
            if not when.isdigit() or int(when) > MAX_TIME:
                shown = line.decode("utf-8", "replace")
                raise InputError(f"{location}: commit {hexsha} has a committer line without a usable time: {shown!r}")
            committed = int(when)
    if len(tree) != 40 or committed is None:
        raise InputError(f"{location}: commit {hexsha} has no {'tree' if len(tree) != 40 else 'committer'} line")
    return Commit(hexsha, tree, committed)


def parse_tree(location: str, hexsha: str, data: bytes) -> list[tuple[int, str, str]]:
    """(mode, name, id) of a tree object's entries, from git's binary tree format."""
    entries, pos = [], 0
    try:
        while pos < len(data):
            space = data.index(b" ", pos)
            nul = data.index(b"\0", space)
            text = data[pos:space]
            mode = int(text, 8) if text.isdigit() and b"8" not in text and b"9" not in text else -1
            if mode not in _MODES and mode & ~0o777 != 0o100000:
                raise InputError(
                    f"{location}: tree {hexsha} has an entry with mode {text.decode('ascii', 'replace')!r}"
                )
            name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
            if name in ("", ".", "..") or "/" in name:  # git never writes these; a crafted object can
                raise InputError(f"{location}: tree {hexsha} has an entry named {name!r}")
            if nul + 21 > len(data):
                raise ValueError("cut")
            entries.append((mode, name, data[nul + 1 : nul + 21].hex()))
            pos = nul + 21
    except ValueError:
        raise InputError(f"{location}: tree {hexsha} is cut short or malformed") from None
    return entries
