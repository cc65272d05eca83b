"""GEAR's other half: a source RPM imported into a new git repository in the layout's git-package shape,
for the third-party packages we start to patch. The spec sits at the root, the Source0 tarball's tree is
unpacked as the repository's tree (its top directory stripped), the other sources and the patches are
files next to the spec; one commit dated at the SRPM's build time. git2srpm on that repository gives back
an SRPM with the same Name, Version, Release (with the same --dist), spec and patches.

The SRPM is not ours: every name in it is checked before anything is written (no absolute path, no '..',
no link that leaves the repository, no device or hard link), and its spec is read in the sandbox."""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from . import runner
from .errors import GitError, InputError
from .packages import payload_files, read_header
from .spec import read_spec


@dataclass(frozen=True)
class Imported:
    repository: Path
    commit: str
    nevra: str
    dist: str  # what --dist gives git2srpm the SRPM's Release back ("" when the spec has no %{?dist})


def _safe_relative(name: str, what: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\x00" in name:
        raise InputError(f"{what}: refusing the path {name!r} (absolute or with '..')")
    return PurePosixPath(*[p for p in path.parts if p != "."])


def _write_file(top: Path, rel: PurePosixPath, data: bytes, mode: int, what: str) -> None:
    target = top / rel
    for parent in list(rel.parents)[:-1]:
        if (top / parent).is_symlink():
            raise InputError(f"{what}: {rel} would be written through the link {parent}")
    if target.exists() or target.is_symlink():
        raise InputError(f"{what}: {rel} is there twice (the tarball and the SRPM both have it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    os.chmod(target, 0o755 if mode & 0o111 else 0o644)


def _unpack(top: Path, data: bytes, what: str) -> None:
    """The tarball's tree into `top`, its single top directory stripped."""
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data))
    except tarfile.TarError as exc:
        raise InputError(f"{what}: not a tar archive: {exc}") from exc
    with archive:
        for member in archive.getmembers():
            rel = _safe_relative(member.name, what)
            rel = PurePosixPath(*rel.parts[1:]) if len(rel.parts) > 1 else PurePosixPath()
            if not rel.parts:
                continue
            if member.isdir():
                (top / rel).mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                _write_file(top, rel, extracted.read(), member.mode, what)
            elif member.issym():
                link = PurePosixPath(member.linkname)
                resolved = PurePosixPath(os.path.normpath(str(rel.parent / link)))
                if link.is_absolute() or resolved.parts[:1] == ("..",):
                    raise InputError(f"{what}: the link {rel} -> {member.linkname} leaves the repository")
                (top / rel).parent.mkdir(parents=True, exist_ok=True)
                os.symlink(member.linkname, top / rel)
            else:
                raise InputError(f"{what}: {member.name} is neither a file, a directory nor a symbolic link")


def srpm_to_git(srpm: Path, directory: Path) -> Imported:
    what = str(srpm)
    if directory.exists() and any(directory.iterdir()):
        raise InputError(f"{directory}: exists and is not empty")
    hdr = read_header(srpm)
    if not hdr["sourcepackage"]:
        raise InputError(f"{srpm}: a binary package, not a source RPM")
    files = {}
    spec_name = None
    for name, is_spec, data in payload_files(srpm):
        rel = _safe_relative(name, what)
        if len(rel.parts) != 1:
            raise InputError(f"{what}: the payload file {name!r} is not a plain file name")
        files[rel.name] = data
        if is_spec:
            spec_name = rel.name
    if spec_name is None:
        raise InputError(f"{what}: no spec file in the source RPM")
    with tempfile.TemporaryDirectory(prefix="altai-srpm2git-") as tmp:
        (Path(tmp) / spec_name).write_bytes(files[spec_name])
        info = read_spec(Path(tmp) / spec_name, display_name=f"{what}: {spec_name}")
    source0 = info.source0.filename
    if source0 not in files:
        raise InputError(f"{what}: Source0 {source0} is not in the source RPM (NoSource?)")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        _unpack(directory, files[source0], f"{what}: {source0}")
        for name, data in sorted(files.items()):
            if name != source0:
                _write_file(directory, PurePosixPath(name), data, 0o644, what)
        commit = _commit(directory, hdr, f"Import {hdr['name']}-{hdr['version']}-{hdr['release']} from {srpm.name}")
    except BaseException:
        for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                path.rmdir()
        raise
    release = str(hdr["release"])
    # the spec read without a dist gives the Release the SRPM had before its dist was added
    dist = release[len(info.release) :] if release.startswith(info.release) else ""
    return Imported(directory, commit, f"{hdr['name']}-{hdr['version']}-{release}", dist)


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
    stream = [
        b"commit refs/heads/main\n",
        f"author {who} {buildtime} +0000\ncommitter {who} {buildtime} +0000\n".encode(),
    ]
    stream += [b"data %d\n" % len(text), text, b"\n"]
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if ".git" in rel.parts or not (path.is_file() or path.is_symlink()):
            continue
        if path.is_symlink():
            mode, data = "120000", os.fsencode(os.readlink(path))
        else:
            mode, data = ("100755" if os.access(path, os.X_OK) else "100644"), path.read_bytes()
        quoted = str(rel).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        stream += [
            f'M {mode} inline "{quoted}"\n'.encode("utf-8", "surrogateescape"),
            b"data %d\n" % len(data),
            data,
            b"\n",
        ]
    git = ["git", "-c", "core.hooksPath=/dev/null", "-C", str(directory)]
    runner.run([*git, "init", "-q", "-b", "main"], GitError, f"{directory}: git init failed")
    runner.run(
        [*git, "fast-import", "--quiet"], GitError, f"{directory}: git fast-import failed", input_bytes=b"".join(stream)
    )
    runner.run([*git, "read-tree", "HEAD"], GitError, f"{directory}: git read-tree failed")
    return runner.text(
        runner.run([*git, "rev-parse", "HEAD"], GitError, f"{directory}: git rev-parse failed").stdout
    ).strip()
