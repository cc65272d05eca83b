"""What goes into git2srpm's SRPM besides the commit: the spec's text as rpmbuild reads it
(%autorelease processed, --snapshot's Release suffix) and the Source0 tarball of the package's tree."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from altai_release.core.errors import InputError
from altai_release.core.timing import step
from altai_release.git import Commit, GitSource, Tree
from altai_release.sources.early_tarball import EarlyTarball
from altai_release.sources.tarball import SourceTarball, compression_for, submodule_trees
from altai_release.specfile.autospec import uses_autospec
from altai_release.specfile.rebuildspec import add_rebuild
from altai_release.specfile.snapshot import add_release_suffix, snapshot_suffix

if TYPE_CHECKING:
    from altai_release.sources.srpm_from_git import SrpmRequest
    from altai_release.specfile.spec import SpecInfo

log = logging.getLogger(__name__)


def spec_text_of(
    source: GitSource, request: SrpmRequest, commit: Commit, spec_path: PurePosixPath, spec_bytes: bytes, work: Path
) -> str:
    spec_text = spec_bytes.decode("utf-8", "surrogateescape")
    if uses_autospec(spec_text):
        from altai_release.specfile.autospec import process

        if source.is_shallow():  # rpmautospec counts the commits: a cut history gives a lower Release
            raise InputError(
                f"{source.location} is a shallow clone: {spec_path} uses %autorelease/%autochangelog, which "
                f"count the commits reachable from {request.ref}, and the clone does not have them; run "
                "'git fetch --unshallow' first"
            )

        spec_text = process(str(source.git_dir), source.location, commit.hexsha, spec_path, work, request.limits)
    if request.snapshot:
        suffix = snapshot_suffix(source.commit_count(commit), commit.hexsha)
        spec_text = add_release_suffix(spec_text, suffix, str(spec_path))
    if request.rebuild is not None:
        spec_text = add_rebuild(spec_text, request.rebuild, str(spec_path))
    return spec_text


@dataclass(frozen=True)
class Packing:
    """The tree a Source0 tarball is packed from, and its time."""

    source: GitSource
    commit: Commit
    subdir: PurePosixPath
    tree: Tree
    submodules: bool
    changed: int
    subject: str


def write_tarball(
    packing: Packing, info: SpecInfo, dest: Path, early: EarlyTarball | None, warn: Callable[[str], None]
) -> None:
    """The tarball of the package's tree at `dest`: the one packed while the spec was read when it is the
    same, else packed now."""
    compression_for(dest.name)
    p = packing
    submodules = submodule_trees(p.source, p.commit, p.subdir, p.tree, p.submodules, warn)
    try:
        tarball = SourceTarball(p.source, p.tree, f"{info.name}-{info.version}", p.changed, submodules, p.commit)
        packed = early.take(tarball.top, dest.name, p.changed) if early and not submodules else None
        if packed is not None:
            log.debug("%s: the tarball packed while the spec was read is the one", p.subject)
            os.replace(packed, dest)
        else:
            with step("tarball", p.subject):
                tarball.write(dest)
    finally:
        for sub_source, _ in submodules.values():
            sub_source.close()


def keep_tarball(tarball: Path, staging: Path) -> Path:
    kept = staging / tarball.name
    try:
        shutil.copy2(tarball, kept)
    except OSError as exc:  # shutil names the source of a failed copy; the fault is where it writes
        raise InputError(f"cannot write to output directory {staging.parent}: {exc.strerror}") from exc
    return kept
