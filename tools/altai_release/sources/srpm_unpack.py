"""srpm2git's unpacking of a source RPM that is not ours: its payload and its Source0 tarball, every
name checked before anything is written (no absolute path, no '..', no link that leaves the repository, no
device), within a budget of members and bytes; hard links are written as copies."""

from __future__ import annotations

import io
import lzma
import os
import platform
import shutil
import sys
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from altai_release.core.errors import InputError
from altai_release.rpm.readback import payload_files


def safe_relative(name: str, what: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\x00" in name:
        raise InputError(f"{what}: refusing the path {name!r} (absolute or with '..')")
    return PurePosixPath(*[p for p in path.parts if p != "."])


def is_git_dir(part: str) -> bool:
    """A name git refuses to add (verify_path): `.git` in any case, with NTFS's trailing dots and spaces,
    or its short name `git~1`. A tree that holds one carries a repository's orders (its config, hooks)."""
    lowered = part.lower()
    return lowered.rstrip(". ") == ".git" or lowered == "git~1"


@dataclass(frozen=True)
class UnpackLimits:
    """How much an SRPM may unpack to: a 61 KB SRPM can hold a tarball of 2 GiB of zeros."""

    member: int = 512 * 1024 * 1024  # one file
    total: int = 2 * 1024 * 1024 * 1024  # every file of the tarball and the SRPM together


class Budget:
    def __init__(self, limits: UnpackLimits, what: str) -> None:
        self.limits, self.what, self.used = limits, what, 0

    def take(self, name: str, size: int) -> None:
        if size > self.limits.member:
            raise InputError(
                f"{self.what}: {name} unpacks to {size} bytes, more than one file may "
                f"({self.limits.member}; srpm2git --max-file-mib)"
            )
        self.used += size
        if self.used > self.limits.total:
            raise InputError(f"{self.what}: unpacks to more than {self.limits.total} bytes (srpm2git --max-total-mib)")


def _no_link_on_the_way(top: Path, rel: PurePosixPath, what: str) -> None:
    """No directory of `rel` below `top` may be a link: a path never passes through one."""
    for parent in reversed(list(rel.parents)[:-1]):
        if (top / parent).is_symlink():
            raise InputError(f"{what}: {rel} would pass through the link {parent}")


def write_file(top: Path, rel: PurePosixPath, data: bytes | IO[bytes], mode: int, what: str) -> None:
    _no_link_on_the_way(top, rel, what)
    target = top / rel
    if target.exists() or target.is_symlink():
        raise InputError(f"{what}: {rel} is there twice (the tarball and the SRPM both have it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as out:  # O_EXCL: never through a link
        if isinstance(data, bytes):
            out.write(data)
        else:
            shutil.copyfileobj(data, out, 1 << 20)
    os.chmod(target, 0o755 if mode & 0o111 else 0o644)


def _hard_link(top: Path, rel: PurePosixPath, member: tarfile.TarInfo, what: str, budget: Budget) -> None:
    """A hard link member: a copy of the regular file of the tree it names (the `data` filter checked that it
    stays inside), counted against the budget like any file."""
    target = safe_relative(member.linkname, what)
    target = PurePosixPath(*target.parts[1:]) if len(target.parts) > 1 else PurePosixPath()
    _no_link_on_the_way(top, target, what)
    source = top / target
    if not target.parts or source.is_symlink() or not source.is_file():
        raise InputError(f"{what}: the hard link {rel} names {member.linkname}, which is no file before it")
    budget.take(member.name, source.stat().st_size)
    with open(source, "rb") as data:
        write_file(top, rel, data, source.stat().st_mode, what)


def _require_data_filter(what: str) -> None:
    if not hasattr(tarfile, "data_filter"):  # PEP 706: CPython 3.11.4 and later, or a distribution's backport
        raise InputError(
            f"{what}: unpacking it needs Python's tarfile data filter (PEP 706: Python 3.11.4 or later); "
            f"{sys.executable} is Python {platform.python_version()}"
        )


def unpack(top: Path, data: bytes, what: str, budget: Budget) -> set[str]:  # noqa: C901, PLR0915 (one check per member kind)
    """The tarball's tree into `top`, its single top directory stripped; the `.git` directories it held,
    left out. Members are read one at a time (a file streams to disk, bounded by `budget`) and pass
    tarfile's `data` filter; links are made last, each checked against the whole tree once it stands (a
    later link must not make an earlier one leave)."""
    _require_data_filter(what)
    dropped: set[str] = set()
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115 (closed below)
    except tarfile.TarError as exc:
        raise InputError(f"{what}: not a tar archive: {exc}") from exc
    links: list[tuple[PurePosixPath, str]] = []
    with archive:
        try:
            for member in archive:
                rel = safe_relative(member.name, what)
                rel = PurePosixPath(*rel.parts[1:]) if len(rel.parts) > 1 else PurePosixPath()
                if not rel.parts:
                    continue
                if any(is_git_dir(part) for part in rel.parts):
                    dropped.add(str(PurePosixPath(*rel.parts[: 1 + [is_git_dir(p) for p in rel.parts].index(True)])))
                    continue
                try:
                    member = tarfile.data_filter(member, str(top))
                except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError):
                    raise InputError(f"{what}: the link {rel} -> {member.linkname} leaves the repository") from None
                except tarfile.FilterError as exc:
                    raise InputError(f"{what}: {member.name}: {exc}") from None
                if member.isdir():
                    _no_link_on_the_way(top, rel / "x", what)
                    (top / rel).mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    budget.take(member.name, member.size)
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    write_file(top, rel, extracted, member.mode or 0o644, what)
                elif member.issym():
                    links.append((rel, member.linkname))
                elif member.islnk():  # git has no hard links: a copy of the file it names
                    _hard_link(top, rel, member, what, budget)
                else:
                    raise InputError(f"{what}: {member.name} is neither a file, a directory nor a link")
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
            if isinstance(exc, OSError) and exc.filename:
                raise
            raise InputError(f"{what}: a broken tar archive: {exc}") from exc
    real_top = Path(os.path.realpath(top))
    for rel, target in links:
        _no_link_on_the_way(top, rel, what)
        if (top / rel).exists() or (top / rel).is_symlink():
            raise InputError(f"{what}: {rel} is there twice")
        if PurePosixPath(target).is_absolute():
            raise InputError(f"{what}: the link {rel} -> {target} leaves the repository")
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, top / rel)
    for rel, target in links:  # all of them in place: what each resolves to now, through the others
        if not Path(os.path.realpath(top / rel)).is_relative_to(real_top):
            raise InputError(f"{what}: the link {rel} -> {target} leaves the repository")
    return dropped


def payload(srpm: Path, budget: Budget) -> tuple[dict[str, bytes], str]:
    """The SRPM's files by name (each a plain name, none that git refuses), and its spec's name."""
    what = str(srpm)
    files = {}
    spec_name = None
    for name, is_spec, data in payload_files(srpm, limit=budget.limits.member):
        budget.take(name, len(data))
        rel = safe_relative(name, what)
        if len(rel.parts) != 1 or is_git_dir(rel.name):
            raise InputError(f"{what}: the payload file {name!r} is not a plain file name")
        files[rel.name] = data
        if is_spec:
            spec_name = rel.name
    if spec_name is None:
        raise InputError(f"{what}: no spec file in the source RPM")
    return files, spec_name
