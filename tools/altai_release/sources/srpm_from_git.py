"""git2srpm's core: a commit of a git repository + its spec -> a reproducible tarball and SRPM."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from altai_release.core.errors import InputError
from altai_release.core.limits import DEFAULT_DOWNLOAD_LIMITS, DEFAULT_LIMITS, DownloadLimits, SandboxLimits
from altai_release.core.paths import check_not_option, repo_relative_path
from altai_release.core.timing import step
from altai_release.git import Commit, GitSource, Tree, WorktreeState
from altai_release.rpm.nevra import Nevra
from altai_release.sandbox.output import check_srpm
from altai_release.sandbox.scratch import unmount_below
from altai_release.sources.early_tarball import EarlyTarball, guess
from altai_release.sources.lookaside import Lookaside, default_download_cache, place_sources
from altai_release.sources.srpm_inputs import Packing, keep_tarball, spec_text_of, write_tarball
from altai_release.sources.srpm_session import SrpmSession
from altai_release.specfile.rebuildspec import Rebuild
from altai_release.specfile.rpmbuild import INNER_TOPDIR, Rpmbuild
from altai_release.specfile.spec import SpecInfo, choose_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SrpmRequest:
    repo: str
    ref: str = "HEAD"
    subdir: str | None = None
    spec: str | None = None
    outdir: Path = Path(".")
    dist: str | None = None
    snapshot: bool = False
    keep_tarball: bool = True
    defines: Sequence[tuple[str, str]] = ()
    macro_files: Sequence[Path] = ()
    shown_as: str | None = None  # how messages name `repo` when it is our clone of a URL
    lookaside: str | None = None  # base URL of the lookaside cache for files listed in `sources`
    download_cache: Path | None = None  # content-addressed cache of fetched files (default: ~/.cache)
    offline: bool = False  # fetched files from the cache only
    submodules: bool = False  # include the trees of the submodules (from their local clones)
    limits: SandboxLimits = DEFAULT_LIMITS  # of the spec's sandbox
    download_limits: DownloadLimits = DEFAULT_DOWNLOAD_LIMITS  # of each file fetched from the lookaside
    package: str | None = None  # the layout's package name, for the timing log (default: the spec's name)
    rebuild: Rebuild | None = None  # a dependent rebuilt for packages of the release that changed


@dataclass(frozen=True)
class SrpmResult:
    srpm: Path
    tarball: Path | None
    nevra: Nevra
    commit: str
    spec: SpecInfo
    commit_time: int  # of the last commit that changed the package's inputs: its SOURCE_DATE_EPOCH
    # the files the spec names (SourceN, PatchN): with the subdir's tree and the spec, all the package is made of
    named_files: tuple[str, ...] = ()


def make_srpm(request: SrpmRequest) -> SrpmResult:
    """Build the SRPM; on any failure nothing new is left in request.outdir."""
    for what, value in (("ref", request.ref), ("dist", request.dist or "")):
        check_not_option(what, value)
    subdir = repo_relative_path("subdir", request.subdir) if request.subdir else PurePosixPath()
    spec_arg = repo_relative_path("spec", request.spec) if request.spec else None
    outdir = request.outdir.absolute()
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"output directory {outdir} is not a directory")
    # the directories this run makes, deepest first: a failed run removes them again (when still empty)
    made = [p for p in (outdir, *outdir.parents) if not p.exists()]
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        _sweep_stale_staging(outdir)
        staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=outdir))
    except OSError as exc:
        raise InputError(f"cannot write to output directory {outdir}: {exc.strerror}") from exc
    try:
        # the work (clone, topdir) under the staging directory too, not in TMPDIR: a run killed outright leaves
        # it where the output is, and build.py's next run sweeps its own staging area
        work = staging / "work"
        work.mkdir()
        source = GitSource.open(request.repo, work / "clone", request.shown_as)
        try:
            result = _build(source, request, subdir, spec_arg, work, staging)
        finally:
            source.close()
        final_srpm = outdir / result.srpm.name
        final_tar = outdir / result.tarball.name if result.tarball else None
        moves = [(result.srpm, final_srpm), *([(result.tarball, final_tar)] if result.tarball and final_tar else [])]
        for _, final in moves:
            if final.is_dir() or (final.exists() and not final.is_file()):
                raise InputError(f"{final}: exists and is not a regular file; move it away")
        done: list[Path] = []
        try:
            for staged, final in reversed(moves):  # the SRPM last: its presence means the run succeeded
                os.replace(staged, final)
                done.append(final)
        except OSError as exc:
            for final in done:
                final.unlink(missing_ok=True)
            raise InputError(f"cannot write {final}: {exc.strerror}") from exc
        made = []
        return replace(result, srpm=final_srpm, tarball=final_tar)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for directory in made:
            try:
                directory.rmdir()
            except OSError:
                break  # not empty (or not ours to remove): what is above it stays too


_STAGING = ".git2srpm-"


def _sweep_stale_staging(outdir: Path) -> None:
    """The staging directories of runs killed outright (their pid, in the name, is gone): removed, their
    scratch filesystems unmounted first."""
    for stale in outdir.glob(f"{_STAGING}*-*"):
        pid = stale.name.removeprefix(_STAGING).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and stale.is_dir() and not stale.is_symlink():
            unmount_below(stale)
            shutil.rmtree(stale, ignore_errors=True)


def _build(
    source: GitSource,
    request: SrpmRequest,
    subdir: PurePosixPath,
    spec_arg: PurePosixPath | None,
    work: Path,
    staging: Path,
) -> SrpmResult:
    def warn(message: str) -> None:  # build.py's warnings name the package; git2srpm's has one
        log.warning(f"{request.package}: {message}" if request.package else message)

    commit = source.resolve(request.ref)
    if source.is_shallow():
        if request.snapshot:
            raise InputError(
                f"{source.location} is a shallow clone: --snapshot numbers the release by the commits reachable "
                f"from {request.ref}, and the clone does not have them; run 'git fetch --unshallow' first"
            )
        warn(
            f"{source.location} is a shallow clone: the package's time (SOURCE_DATE_EPOCH) is its last change "
            "that the cut history shows"
        )
    # the dirty check is a warning only: it runs beside the rest and is said at the end
    checked: list[WorktreeState] = []
    checking = threading.Thread(target=lambda: checked.append(source.worktree_state()), daemon=True)
    checking.start()
    try:
        return _make(source, request, commit, subdir, spec_arg, work, staging, warn)
    finally:
        checking.join()
        state = checked[0] if checked else None
        if state is not None and state.dirty:
            at = commit.hexsha[:12]
            warn(f"{source.location} has uncommitted changes; they are not included (building commit {at})")
        elif state is not None and state.dirty is None:
            warn(f"cannot tell whether {source.location} has uncommitted changes: {state.why}")


def _early_tarball(
    source: GitSource,
    request: SrpmRequest,
    commit: Commit,
    subdir: PurePosixPath,
    tree: Tree,
    spec_path: PurePosixPath,
    spec_text: str,
    work: Path,
) -> EarlyTarball | None:
    """The tarball, packed beside the spec's read when its text tells the name, version and Source0."""
    if request.submodules or source.blob_id(commit, spec_path.parent / "sources") is not None:
        return None  # submodules' trees, or a Source0 perhaps from the lookaside: decided after the read
    guessed = guess(spec_text)
    if guessed is None:
        return None
    return EarlyTarball(source, commit, tree, [subdir, spec_path], guessed, work / "early")


def _rpmbuild(request: SrpmRequest, work: Path, inputs: Path) -> Rpmbuild:
    build = Rpmbuild(
        topdir=work / "top",
        defines=[*request.defines, *([("dist", request.dist)] if request.dist is not None else [])],
        macro_files=list(request.macro_files),
        inputs={inputs / "SPECS": INNER_TOPDIR / "SPECS", inputs / "SOURCES": INNER_TOPDIR / "SOURCES"},
        limits=request.limits,
    )
    build.prepare()
    return build


def _make(
    source: GitSource,
    request: SrpmRequest,
    commit: Commit,
    subdir: PurePosixPath,
    spec_arg: PurePosixPath | None,
    work: Path,
    staging: Path,
    warn: Callable[[str], None],
) -> SrpmResult:
    tree = source.tree(commit, subdir)
    spec_path = spec_arg or choose_spec(source.location, source.list_files(commit, subdir), subdir)
    # the spec and the sources: written by us into directories the sandbox sees read-only, while it runs
    inputs = work / "in"
    build = _rpmbuild(request, work, inputs)
    spec_file = inputs / "SPECS" / spec_path.name
    # the spec reader's sandbox starts now, while git gives the spec and the snapshot's count
    with SrpmSession(build, spec_file, str(spec_path)) as session:
        spec_bytes = source.read_file(commit, spec_path)
        if spec_bytes is None:
            raise InputError(f"{source.location}: no spec file {str(spec_path)!r} at {commit.hexsha[:12]}")
        spec_text = spec_text_of(source, request, commit, spec_path, spec_bytes, work)
        spec_file.write_text(spec_text, encoding="utf-8", errors="surrogateescape")
        subject = request.package or spec_path.stem
        early = _early_tarball(source, request, commit, subdir, tree, spec_path, spec_text, work)
        try:
            with step("spec read (sandbox)", subject):
                info = session.info()
        except BaseException:
            if early is not None:
                early.cancel()
            raise
        if early is not None:
            early.wait()  # `source` is ours again

        # file times, build time and SOURCE_DATE_EPOCH: the last change of what the package is made of (its
        # tree, its spec, the files its spec names), so that a commit elsewhere in a shared repository, or to
        # another package's spec beside this one, does not change a byte of this package
        sources_dir = inputs / "SOURCES"
        cache = request.download_cache or default_download_cache()
        lookaside = Lookaside(request.lookaside, cache, request.offline, request.download_limits)
        named, source0_fetched = place_sources(source, commit, spec_path, info, sources_dir, lookaside)
        changed = source.last_change_time(commit, [subdir, spec_path, *map(PurePosixPath, named)])

        tar_name = info.source0.filename
        if tar_name in ("", ".", ".."):
            raise InputError(f"{spec_path}: Source0 {info.source0.location!r} does not name a file")
        if not source0_fetched:
            packing = Packing(source, commit, subdir, tree, request.submodules, changed, subject)
            write_tarball(packing, info, sources_dir / tar_name, early, warn)
        for path in [*sources_dir.iterdir(), spec_file]:
            os.utime(path, (changed, changed))

        with step("rpmbuild -bs (same sandbox)", subject):
            srpm = session.build_srpm(changed, staging)
        check_srpm(srpm, info.source_nevra, str(spec_path))
        kept_tar = keep_tarball(sources_dir / tar_name, staging) if request.keep_tarball else None
        return SrpmResult(srpm, kept_tar, info.source_nevra, commit.hexsha, info, changed, tuple(named))
