"""GEAR's other half: a source RPM imported into a new git repository in the layout's git-package shape,
for the third-party packages we start to patch. The spec sits at the root, the Source0 tarball's tree is
unpacked as the repository's tree (its top directory stripped), the other sources and the patches are
files next to the spec; one commit dated at the SRPM's build time. git2srpm on that repository gives back
an SRPM with the same Name, Version, Release (with the same --dist), spec and patches.

The SRPM is not ours: every name in it is checked before anything is written (no absolute path, no '..',
no link that leaves the repository, no device or hard link), and its spec is read in the sandbox."""

from __future__ import annotations

import io
import lzma
import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from . import runner
from .errors import GitError, InputError
from .git.env import GIT_ENV, SAFE
from .packages import payload_files, read_header
from .spec import read_spec
from .timing import step


@dataclass(frozen=True)
class Imported:
    repository: Path
    commit: str
    nevra: str
    dist: str  # what --dist gives git2srpm the SRPM's Release back ("" when the spec has no %{?dist})
    notes: tuple[str, ...] = ()  # what the user should know (a file the tarball and the SRPM both had)


def _safe_relative(name: str, what: str) -> PurePosixPath:
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


class _Budget:
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


def _write_file(top: Path, rel: PurePosixPath, data: bytes | IO[bytes], mode: int, what: str) -> None:
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


def _hard_link(top: Path, rel: PurePosixPath, member: tarfile.TarInfo, what: str, budget: _Budget) -> None:
    """A hard link member: a copy of the regular file of the tree it names (the `data` filter checked that it
    stays inside), counted against the budget like any file."""
    target = _safe_relative(member.linkname, what)
    target = PurePosixPath(*target.parts[1:]) if len(target.parts) > 1 else PurePosixPath()
    _no_link_on_the_way(top, target, what)
    source = top / target
    if not target.parts or source.is_symlink() or not source.is_file():
        raise InputError(f"{what}: the hard link {rel} names {member.linkname}, which is no file before it")
    budget.take(member.name, source.stat().st_size)
    with open(source, "rb") as data:
        _write_file(top, rel, data, source.stat().st_mode, what)


def _unpack(top: Path, data: bytes, what: str, budget: _Budget) -> set[str]:
    """The tarball's tree into `top`, its single top directory stripped; the `.git` directories it held,
    left out. Members are read one at a time (a file streams to disk, bounded by `budget`) and pass
    tarfile's `data` filter; links are made last, each checked against the whole tree once it stands (a
    later link must not make an earlier one leave)."""
    dropped: set[str] = set()
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except tarfile.TarError as exc:
        raise InputError(f"{what}: not a tar archive: {exc}") from exc
    links: list[tuple[PurePosixPath, str]] = []
    with archive:
        try:
            for member in archive:
                rel = _safe_relative(member.name, what)
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
                    _write_file(top, rel, extracted, member.mode or 0o644, what)
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


def _payload(srpm: Path, budget: _Budget) -> tuple[dict[str, bytes], str]:
    """The SRPM's files by name (each a plain name, none that git refuses), and its spec's name."""
    what = str(srpm)
    files = {}
    spec_name = None
    for name, is_spec, data in payload_files(srpm, limit=budget.limits.member):
        budget.take(name, len(data))
        rel = _safe_relative(name, what)
        if len(rel.parts) != 1 or is_git_dir(rel.name):
            raise InputError(f"{what}: the payload file {name!r} is not a plain file name")
        files[rel.name] = data
        if is_spec:
            spec_name = rel.name
    if spec_name is None:
        raise InputError(f"{what}: no spec file in the source RPM")
    return files, spec_name


def srpm_to_git(srpm: Path, directory: Path, limits: UnpackLimits | None = None) -> Imported:
    what = str(srpm)
    budget = _Budget(limits or UnpackLimits(), what)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InputError(f"{directory}: exists and is not an empty directory")
    hdr = read_header(srpm)
    if not hdr["sourcepackage"]:
        raise InputError(f"{srpm}: a binary package, not a source RPM")
    with step("payload"):
        files, spec_name = _payload(srpm, budget)
    with tempfile.TemporaryDirectory(prefix="altai-srpm2git-") as tmp, step("spec read (sandbox)"):
        (Path(tmp) / spec_name).write_bytes(files[spec_name])
        info = read_spec(Path(tmp) / spec_name, display_name=f"{what}: {spec_name}")
    source0 = info.source0.filename
    if source0 not in files:
        raise InputError(f"{what}: Source0 {source0} is not in the source RPM (NoSource?)")
    made = [p for p in (directory, *directory.parents) if not p.exists()]  # removed again on a refusal
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with step("unpack"):
            dropped = _unpack(directory, files[source0], f"{what}: {source0}", budget)
            notes = [f"{d}: a git repository in {source0}, left out (srpm2git makes the repository)" for d in dropped]
            notes += _add_files(directory, files, source0, what)
        with step("commit"):
            message = f"Import {hdr['name']}-{hdr['version']}-{hdr['release']} from {srpm.name}"
            commit = _commit(directory, hdr, message)
    except BaseException:
        _remove_contents(directory)
        for made_dir in made:
            try:
                made_dir.rmdir()
            except OSError:
                break
        raise
    release = str(hdr["release"])
    # the spec read without a dist gives the Release the SRPM had before its dist was added
    dist = release[len(info.release) :] if release.startswith(info.release) else ""
    return Imported(directory, commit, f"{hdr['name']}-{hdr['version']}-{release}", dist, tuple(notes))


def _add_files(directory: Path, files: dict[str, bytes], source0: str, what: str) -> list[str]:
    """The SRPM's files but Source0 beside the unpacked tree; what the user should know of them."""
    notes = []
    for name, data in sorted(files.items()):
        if name == source0:
            continue
        unpacked = directory / name
        if unpacked.is_file() and not unpacked.is_symlink():
            # upstream tarballs often ship the spec (and %autorelease wants it at the root): the same
            # file twice is one file; where they differ, the SRPM's copy is what was built
            if unpacked.read_bytes() != data:
                notes.append(f"{name}: the tarball and the SRPM differ; the SRPM's copy is kept")
            unpacked.unlink()
        _write_file(directory, PurePosixPath(name), data, 0o644, what)
    return notes


def _remove_contents(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            path.rmdir()


def _commit(directory: Path, hdr: Any, message: str) -> str:
    """One commit of every file of `directory` on a new branch main, made with `git fast-import` (no
    filter or hook of any configuration runs on the SRPM's files), dated and signed off by its packager."""
    buildtime = int(hdr["buildtime"] or 0)
    packager = str(hdr["packager"] or "") or "srpm2git <srpm2git@localhost.invalid>"
    name, _, email = packager.partition("<")
    clean = str.maketrans("", "", "<>\n\0")
    address = email.rstrip(">").strip().translate(clean) or "srpm2git@localhost.invalid"
    who = f"{name.strip().translate(clean) or 'srpm2git'} <{address}>"
    text = message.encode()
    git = ["git", *SAFE, "--git-dir", str(directory / ".git"), "--work-tree", str(directory)]
    # the stream goes through a file, one repository file at a time: never the whole tree in memory
    with tempfile.TemporaryFile() as stream:
        stream.write(b"commit refs/heads/main\n")
        stream.write(f"author {who} {buildtime} +0000\ncommitter {who} {buildtime} +0000\n".encode())
        stream.write(b"data %d\n%s\n" % (len(text), text))
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory)
            if ".git" in rel.parts or not (path.is_file() or path.is_symlink()):
                continue
            quoted = str(rel).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            if path.is_symlink():
                mode, size = "120000", len(os.fsencode(os.readlink(path)))
            else:
                mode, size = ("100755" if os.access(path, os.X_OK) else "100644"), path.stat().st_size
            stream.write(f'M {mode} inline "{quoted}"\n'.encode("utf-8", "surrogateescape") + b"data %d\n" % size)
            if path.is_symlink():
                stream.write(os.fsencode(os.readlink(path)))
            else:
                with open(path, "rb") as data:
                    shutil.copyfileobj(data, stream, 1 << 20)
            stream.write(b"\n")
        stream.seek(0)
        with tempfile.TemporaryDirectory(prefix="altai-srpm2git-home-") as home:
            # a repository of ours, with the config git init writes and nothing else: no template (hooks), no
            # system or global config (a filter, an fsmonitor) of this host
            env = {**GIT_ENV, "HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}

            def run(*args: str, **kwargs: Any) -> str:
                done = runner.run([*git, *args], GitError, f"{directory}: git {args[0]} failed", env=env, **kwargs)
                return runner.text(done.stdout)

            run("init", "-q", "--template=", "-b", "main")
            run("fast-import", "--quiet", stdin=stream)
            run("read-tree", "HEAD")
            # read-tree leaves every entry's stat data zero: a normal index, as `git add` would write, so
            # that the next git2srpm does not take the new repository for one with uncommitted changes
            run("update-index", "-q", "--refresh")
            return run("rev-parse", "HEAD").strip()
