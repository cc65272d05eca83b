"""Files of a directory tree that somebody else could write (a sandbox's results, a release tree handed to
`--verify`), read without trusting it: every path is opened relative to a directory we opened, one component
at a time, without following links (O_NOFOLLOW, O_DIRECTORY); a result must be a regular file within a size
bound, and is read or copied as such. A link to a host file, a FIFO, a device or an endless file is one
error naming it, never a read."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from altai_release.core.errors import BuildError

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
MIB = 1 << 20


class Unsafe(BuildError):
    """What was found is not a plain file (or directory) of the tree, or is over its bound."""


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_dir(root: Path, parts: Iterable[str], shown: str) -> int:
    """A descriptor of root/parts..., refusing a link at any component below the caller's `root`."""
    fd = os.open(root, _OPEN_DIR)
    for part in parts:
        try:
            nxt = open_dir_at(fd, part, f"{shown}: {part}")
        finally:
            os.close(fd)
        fd = nxt
    return fd


def open_dir_at(dir_fd: int, name: str, shown: str) -> int:
    """The directory `name` of `dir_fd`, opened without following a link."""
    try:
        return os.open(name, _OPEN_DIR, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Unsafe(f"{shown}: a link or not a directory: refused") from None
        raise


def open_file(dir_fd: int, name: str, shown: str) -> int:
    """The regular file `name` of `dir_fd`, opened without following a link."""
    try:
        src = os.open(name, _OPEN_FILE, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Unsafe(f"{shown}: a symbolic link, not a file: refused") from None
        raise
    mode = os.fstat(src).st_mode
    if not stat.S_ISREG(mode):
        os.close(src)
        raise Unsafe(f"{shown}: {kind(mode)}, not a file: refused")
    os.set_blocking(src, True)
    return src


def copy_fd(src: int, target: Path, limit: int, shown: str) -> None:
    """Copy the open regular file `src` to `target` (a new file); at most `limit` bytes."""
    size = os.fstat(src).st_size
    if size > limit:
        raise Unsafe(f"{shown}: {size} bytes, over the limit of {limit}: refused")
    copied = 0
    with open(target, "xb") as out:
        while chunk := os.read(src, MIB):
            copied += len(chunk)
            if copied > limit:
                raise Unsafe(f"{shown}: grew over the limit of {limit} bytes while copied: refused")
            out.write(chunk)


def _split(relative: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise Unsafe(f"{relative}: not a path inside the tree: refused")
    return path


def copy_file_at(dir_fd: int, name: str, target: Path, limit: int, shown: str) -> None:
    """The regular file `name` of `dir_fd`, reached without a link, copied to `target` (at most `limit`)."""
    src = open_file(dir_fd, name, shown)
    try:
        copy_fd(src, target, limit, shown)
    finally:
        os.close(src)


def _open_beneath(root: Path, relative: str) -> int:
    """root/relative, a regular file reached without a link: its descriptor."""
    path = _split(relative)
    fd = open_dir(root, path.parent.parts, relative)
    try:
        return open_file(fd, path.name, relative)
    finally:
        os.close(fd)


def copy_out(root: Path, relative: str, target: Path, limit: int) -> Path:
    """root/relative, a regular file reached without a link, copied to `target` (at most `limit` bytes)."""
    src = _open_beneath(root, relative)
    try:
        copy_fd(src, target, limit, relative)
    finally:
        os.close(src)
    return target


def read_bytes(root: Path, relative: str, limit: int) -> bytes:
    """root/relative, a regular file reached without a link, read whole (at most `limit` bytes)."""
    src = _open_beneath(root, relative)
    try:
        data = bytearray()
        while len(data) <= limit and (chunk := os.read(src, MIB)):
            data += chunk  # grows in place: linear in the file's size
        if len(data) > limit:
            raise Unsafe(f"{relative}: over the limit of {limit} bytes: refused")
        return bytes(data)
    finally:
        os.close(src)


def entries(root: Path, relative: str, limit: int = 100_000) -> dict[str, int] | None:
    """The names of the directory root/relative (reached without a link) with their modes (not followed);
    None when it does not exist. At most `limit` names."""
    try:
        fd = open_dir(root, PurePosixPath(relative).parts if relative not in ("", ".") else (), relative)
    except FileNotFoundError:
        return None
    try:
        found: dict[str, int] = {}
        with os.scandir(fd) as listing:
            for item in listing:
                if len(found) >= limit:
                    raise Unsafe(f"{relative}: more than {limit} entries: refused")
                found[item.name] = item.stat(follow_symlinks=False).st_mode
        return found
    finally:
        os.close(fd)
