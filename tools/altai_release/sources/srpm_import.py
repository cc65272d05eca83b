"""GEAR's other half: a source RPM imported into a new git repository in the layout's git-package shape,
for the third-party packages we start to patch. The spec sits at the root, the Source0 tarball's tree is
unpacked as the repository's tree (its top directory stripped), the other sources and the patches are
files next to the spec; one commit dated at the SRPM's build time. git2srpm on that repository gives back
an SRPM with the same Name, Version, Release (with the same --dist), spec and patches.

The SRPM is not ours: every name in it is checked before anything is written (no absolute path, no '..',
no link that leaves the repository, no device or hard link), and its spec is read in the sandbox."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from altai_release.core import runner
from altai_release.core.errors import GitError, InputError
from altai_release.core.timing import step
from altai_release.git.env import GIT_ENV, SAFE
from altai_release.rpm.readback import read_header
from altai_release.sources.srpm_unpack import Budget, UnpackLimits, payload, unpack, write_file
from altai_release.specfile.spec import read_spec


@dataclass(frozen=True)
class Imported:
    repository: Path
    commit: str
    nevra: str
    dist: str  # what --dist gives git2srpm the SRPM's Release back ("" when the spec has no %{?dist})
    notes: tuple[str, ...] = ()  # what the user should know (a file the tarball and the SRPM both had)


def srpm_to_git(srpm: Path, directory: Path, limits: UnpackLimits | None = None) -> Imported:
    what = str(srpm)
    budget = Budget(limits or UnpackLimits(), what)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InputError(f"{directory}: exists and is not an empty directory")
    hdr = read_header(srpm)
    if not hdr["sourcepackage"]:
        raise InputError(f"{srpm}: a binary package, not a source RPM")
    with step("payload"):
        files, spec_name = payload(srpm, budget)
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
            dropped = unpack(directory, files[source0], f"{what}: {source0}", budget)
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
        write_file(directory, PurePosixPath(name), data, 0o644, what)
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
