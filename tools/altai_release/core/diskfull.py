"""A full disk shows as whatever failed first (rpmsign, the rpmdb, rpmbuild, a write): the error a user
must act on is the disk, named with what failed."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from altai_release.core.errors import AltaiError, InputError, NoSpaceError, PublishError, ToolError

FULL_BELOW = 1024 * 1024  # bytes free: what no build, signature or publish of ours fits in


def _no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _full(path: Path) -> bool:
    """Whether the filesystem of `path` has (almost) no room left: blocks or inodes."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW or (st.f_files > 0 and st.f_favail == 0)


def as_disk_failure(
    exc: BaseException, tree: Path, after: str = "the published release did not change"
) -> AltaiError | None:
    """What to raise instead of `exc`, a failure of a run writing to `tree`: the full disk, or a write that
    failed without naming its file; None to raise `exc` itself (a bad ref, spec or signature is what it
    says, whatever the disk). `after` says what the user finds (nothing changed)."""
    quota = (isinstance(exc, OSError) and exc.errno == errno.EDQUOT) or os.strerror(errno.EDQUOT) in str(exc)
    said_full = quota or (isinstance(exc, InputError) and os.strerror(errno.ENOSPC) in str(exc))
    if not isinstance(exc, (ToolError, PublishError, OSError)) and not said_full:
        return None
    if not (_no_space(exc) or said_full or _full(tree)):
        if isinstance(exc, OSError) and not exc.filename:
            # a write that failed (EIO) without naming its file: name the tree it was writing
            return PublishError(f"{tree}: {exc.strerror or exc}; {after}")
        return None
    where = exc.filename if isinstance(exc, OSError) and exc.filename else tree
    what = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    # a quota is the user's to raise, a full disk the machine's: the line says which was hit
    full = f"{os.strerror(errno.EDQUOT)} (a disk quota)" if quota else os.strerror(errno.ENOSPC)
    return NoSpaceError(f"{where}: {full}; {after} (what failed: {what})")
