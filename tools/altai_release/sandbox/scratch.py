"""The directory a sandboxed step writes into, under a quota: run as root, a tmpfs of the step's own
(`[sandbox] disk_mib`, and an inode count to match) mounted there, `nosuid,nodev`, owned by the sandbox's
unprivileged user, and unmounted when the step's results have been taken. A spec that writes without end or
`fallocate`s five files of 3 GB stops at the quota ("No space left on device" inside), not at the host's
disk. The files live in memory and count against the step's memory limit too, as with mock's tmpfs plugin.

Not root, the tool cannot mount: the directory is a plain one, bounded per file only (RLIMIT_FSIZE).
A run killed outright leaves its mounts; `unmount_below` takes them away before its staging is swept, and
`held_workdir` gives the runs outside a store (`--verify`, `--accept`) a work directory the next one sweeps."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from altai_release.core.errors import SandboxError
from altai_release.core.limits import SandboxLimits
from altai_release.sandbox.bubblewrap import BUILD_GID, BUILD_UID, host_id, privileged

_MS_NOSUID, _MS_NODEV = 2, 4
_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _mount_tmpfs(target: Path, size: int, inodes: int, uid: int, gid: int) -> None:
    options = f"size={size},nr_inodes={inodes},mode=0755,uid={uid},gid={gid}".encode()
    if _libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs", _MS_NOSUID | _MS_NODEV, options) != 0:
        code = ctypes.get_errno()
        raise SandboxError(f"{target}: cannot mount the sandbox's scratch tmpfs: {os.strerror(code)}")


def _unmount(target: Path) -> None:
    if _libc.umount2(os.fsencode(target), _MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        raise SandboxError(f"{target}: cannot unmount the sandbox's scratch: {os.strerror(ctypes.get_errno())}")


def give_to_sandbox(*directories: Path, tree: bool = False, installation: bool = False) -> None:
    """Directories the host made that the sandbox's user must write into, or (`tree`) own as a whole (a clone
    that libgit2 reads only when its owner runs it, an installroot the host wrote into): run as root,
    theirs (the build user's, or the installation's root's). Never a link followed."""
    if not privileged():
        return
    uid, gid = (host_id(0), host_id(0)) if installation else (host_id(BUILD_UID), host_id(BUILD_GID))
    for directory in directories:
        os.chown(directory, uid, gid, follow_symlinks=False)
        if tree:
            for top, dirs, files in os.walk(directory):
                for name in dirs + files:
                    os.chown(os.path.join(top, name), uid, gid, follow_symlinks=False)


@contextmanager
def scratch(
    directory: Path, limits: SandboxLimits, subdirs: tuple[str, ...] = (), installation: bool = False
) -> Iterator[Path]:
    """`directory` (made, empty) with `subdirs`, writable by the sandbox and bounded by the disk quota, for
    as long as the block runs; the host takes the results out before it ends. For an `installation`, the
    root of the sandbox's user namespace owns it, else the build user."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = False
    uid, gid = (host_id(0), host_id(0)) if installation else (host_id(BUILD_UID), host_id(BUILD_GID))
    if privileged():
        _mount_tmpfs(directory, limits.disk, max(limits.disk // 4096, 65536), uid, gid)
        mounted = True
    try:
        made = [directory / sub for sub in subdirs]
        for sub in made:
            sub.mkdir(parents=True, exist_ok=True)
        if not installation:
            give_to_sandbox(directory, *made)
        yield directory
    finally:
        if mounted:
            _unmount(directory)


def unmount_below(top: Path) -> None:
    """Unmount the scratch filesystems a killed run left under `top` (deepest first), so that its staging can
    be removed."""
    prefix = os.path.realpath(top).rstrip("/") + "/"
    points = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as info:
            for line in info:
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split(" ")[4])
                if point.startswith(prefix):
                    points.append(point)
    except OSError:
        return
    for point in sorted(points, key=len, reverse=True):
        _libc.umount2(os.fsencode(point), _MNT_DETACH)


WORK_MARKER = ".altai-work"  # in a work directory of a run: locked while the run lives


@contextmanager
def held_workdir(prefix: str) -> Iterator[Path]:
    """A work directory in TMPDIR for one run that mounts scratch filesystems (`--verify`, `--accept`), held
    by a record lock on its marker while the run lives. A run killed outright cannot unmount or remove its
    own; the next run with the same prefix does: each sibling that holds the marker and whose lock is free
    is unmounted and removed (what the tool did not make has no marker, and is left alone)."""
    parent = Path(tempfile.gettempdir())
    for stale in parent.glob(f"{prefix}*"):
        _sweep(stale)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    fd = os.open(work / WORK_MARKER, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        yield work
    finally:
        unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)
        os.close(fd)


def _sweep(stale: Path) -> None:
    if stale.is_symlink() or not stale.is_dir() or not (stale / WORK_MARKER).is_file():
        return
    try:
        fd = os.open(stale / WORK_MARKER, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: its run is gone
    except OSError:
        os.close(fd)
        return  # a run that lives
    try:
        unmount_below(stale)
        shutil.rmtree(stale, ignore_errors=True)
    finally:
        os.close(fd)
