"""An exclusive POSIX record lock on a file, whose holder the kernel names (F_GETLK): a message can never
show a stale or half-written pid, and a killed holder's lock goes with it."""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from altai_release.core.errors import InputError, PublishError

_FLOCK = "hhqqi4x"  # struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid


@contextmanager
def exclusive_lock(path: Path, wait_seconds: float, doing: str) -> Iterator[None]:
    """Hold the lock on `path` for the block; another holder is waited for up to `wait_seconds`, then named
    in one error (`another run (pid N) is DOING`)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"cannot write to {path.parent}: {exc.strerror}") from exc
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
            holder = _lock_holder(fd)
            if holder is None:
                continue  # released between our try and the question
            if time.monotonic() >= deadline:
                raise PublishError(f"another run (pid {holder}) is {doing}; try again later or pass --wait SECONDS")
            time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _lock_holder(fd: int) -> int | None:
    """The pid holding a conflicting lock on the file, or None when it is free."""
    query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    l_type, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    return None if l_type == fcntl.F_UNLCK else int(pid)
