"""The one way results cross from a sandbox to the host. Whatever a sandboxed process could write is hostile:
a result may be a link to a host file, a FIFO, a device, a directory swapped for a link, or far larger than
any package. So every result is opened relative to a directory the host made, one component at a time,
without following links (O_NOFOLLOW, O_DIRECTORY), must be a regular file within a size bound, and is copied
to a host directory the sandbox never sees before anything else reads it. Then it is checked for what it
claims to be: an SRPM is the spec's source package; a binary RPM is one of the spec's packages at the SRPM's
epoch, version and release, made from that SRPM (its SOURCERPM). Every builder and the SRPM step go through
here."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from altai_release.core.errors import BuildError, InputError
from altai_release.rpm.nevra import Nevra
from altai_release.rpm.rpmheader import read_identity
from altai_release.sandbox.beneath import Unsafe, copy_file_at, kind, open_dir, open_dir_at, read_bytes

MAX_RESULTS = 1000  # files of one kind a build may hand over
MAX_ENTRIES = 10_000  # names in one directory of results
UnsafeOutput = Unsafe  # a sandbox handed over something that is not a plain result


def take_files(
    root: Path, subdir: str, suffix: str, dest: Path, limit: int, depth: int = 1, skip: str | None = None
) -> list[Path]:
    """Copy every `*suffix` file (but `*skip`) under root/subdir (up to `depth` directories down, as
    RPMS/<arch>/) into `dest`, a host directory of our own; a result that is not a regular file, or a result
    name met twice, is refused. Returns the copies, sorted."""
    taken: list[Path] = []
    dest.mkdir(parents=True, exist_ok=True)

    def walk(fd: int, where: PurePosixPath, level: int) -> None:
        names = []
        with os.scandir(fd) as entries:
            for item in entries:
                names.append(item.name)
                if len(names) > MAX_ENTRIES:
                    raise UnsafeOutput(f"{where}: more than {MAX_ENTRIES} entries: refused")
        for entry in sorted(names):
            shown = f"{where / entry}"
            info = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode) and level < depth:
                sub = open_dir_at(fd, entry, str(where / entry))
                try:
                    walk(sub, where / entry, level + 1)
                finally:
                    os.close(sub)
            elif entry.endswith(suffix) and not (skip and entry.endswith(skip)):
                if not stat.S_ISREG(info.st_mode):
                    raise UnsafeOutput(f"{shown}: {kind(info.st_mode)}, not a file: refused")
                if len(taken) >= MAX_RESULTS or (dest / entry).exists():
                    raise UnsafeOutput(f"{shown}: more than one result of that name, or over {MAX_RESULTS}")
                copy_file_at(fd, entry, dest / entry, limit, shown)
                taken.append(dest / entry)

    fd = open_dir(root, PurePosixPath(subdir).parts, subdir)
    try:
        walk(fd, PurePosixPath(subdir), 0)
    finally:
        os.close(fd)
    return sorted(taken)


def read_text(root: Path, relative: str, limit: int) -> str:
    """A text file the sandbox wrote, read as a regular file without following a link, at most `limit`."""
    return read_bytes(root, relative, limit).decode("utf-8", "surrogateescape")


def check_srpm(srpm: Path, expected: Nevra, shown: str) -> None:
    """The SRPM a sandbox wrote is the source package of the spec that was read."""
    identity = read_identity(srpm)
    nevra = identity.nevra
    if not identity.source:
        raise InputError(f"{shown}: rpmbuild -bs wrote {srpm.name}, a binary package: refused")
    if nevra != expected:
        raise InputError(f"{shown}: rpmbuild -bs wrote {srpm.name} ({nevra}), not the spec's {expected}: refused")
    if srpm.name != f"{_nvr(nevra)}.src.rpm":
        raise InputError(f"{shown}: rpmbuild -bs wrote {srpm.name}, which is not named after {nevra}: refused")


def check_binaries(rpms: list[Path], srpm: Path, packages: Iterable[str], what: str) -> list[Path]:
    """Every result of a build is a binary package of `srpm`: one of its spec's `packages` (or the debuginfo
    rpm derives from them), at its epoch, version and release, whose SOURCERPM is `srpm`; the file is named
    after it."""
    source, allowed = read_identity(srpm).nevra, set(packages)
    # rpm's %debug_package makes these of an arch package's spec (mock on EL does; Debian's rpm does not)
    allowed |= {f"{name}-debuginfo" for name in allowed} | {f"{source.name}-debugsource"}
    if not rpms:
        raise BuildError(f"{what} returned no binary package")
    for rpm in rpms:
        identity = read_identity(rpm)
        nevra, sourcerpm = identity.nevra, identity.sourcerpm
        if (
            identity.source
            or nevra.name not in allowed
            or (nevra.epoch, nevra.version, nevra.release) != (source.epoch, source.version, source.release)
            or sourcerpm != srpm.name
            or rpm.name != f"{_nvr(nevra)}.{nevra.arch}.rpm"
        ):
            raise BuildError(
                f"{what} returned {rpm.name} ({nevra}, from {sourcerpm or 'no source package'}),"
                f" which is not a package of {srpm.name}: nothing is published"
            )
    return sorted(rpms)


def _nvr(nevra: Nevra) -> str:
    return f"{nevra.name}-{nevra.version}-{nevra.release}"
