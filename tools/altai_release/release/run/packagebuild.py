"""The packages of a run from their sources to signed and verified files in the staging area: every SRPM
made (in parallel), then each package built when the packages it BuildRequires are, and every binary RPM
and the SRPM signed with the package's key and checked against its public half."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from altai_release.builders import Builder, BuildJob, BuildOutput
from altai_release.builders.scheduler import build_order, run_all, run_pipeline
from altai_release.core.errors import AltaiError, BuildError, SigningError, VerificationError
from altai_release.core.limits import SandboxLimits
from altai_release.core.timing import step
from altai_release.layout import PackageEntry, ReleaseLayout
from altai_release.release.run.results import PackageResult, PlacedFile
from altai_release.rpm.compat import check_target
from altai_release.rpm.readback import read_nevra
from altai_release.signing.assignment import SigningIdentity, sign_packages
from altai_release.signing.signature_check import KeyDatabases, verify_packages
from altai_release.sources import PackageSource, ReleasePackageSource
from altai_release.sources.srpm_from_git import SrpmResult

log = logging.getLogger(__name__)

_MAX_SKIPPED_RELEASES = 50


@dataclass(frozen=True)
class Built:
    """A package's build, before it is signed."""

    entry: PackageEntry
    srpm: SrpmResult
    output: BuildOutput
    identity: SigningIdentity
    public_key: bytes
    started: float


@dataclass(frozen=True)
class PackageBuild:
    builder: Builder
    rpmdbs: KeyDatabases
    staging: Path
    logdir: Callable[[str], Path]
    target_rpm: str | None = None  # the target's rpm: what every package must stay readable by
    published: Mapping[str, str] = field(default_factory=dict)  # name -> origin of the release's packages

    def build(
        self,
        entry: PackageEntry,
        srpm: SrpmResult,
        identity: SigningIdentity,
        public_key: bytes,
        unique: str,
        dependents: tuple[str, ...] = (),
        from_release: tuple[str, ...] = (),
    ) -> Built:
        started = time.monotonic()
        workdir = self.staging / "build" / entry.name
        workdir.mkdir(parents=True)
        job = BuildJob(
            package=entry,
            srpm=srpm.srpm,
            workdir=workdir,
            logdir=self.logdir(entry.name),
            source_date_epoch=srpm.commit_time,
            unique=unique,
            build_requires=tuple(sorted({br.name for br in srpm.spec.build_requires})),
            packages=tuple(srpm.spec.packages),
            dependents=dependents,
            from_release=from_release,
        )
        with step(f"build ({self.builder.name})", entry.name):
            output = self.builder.build(job)
        return Built(entry, srpm, output, identity, public_key, started)

    def finish(self, built: Built) -> PackageResult:
        """Sign the build's RPMs and its SRPM with the package's key and check them."""
        entry = built.entry
        signed_dir = self.staging / "signed" / entry.name
        signed_dir.mkdir(parents=True)
        files = [Path(shutil.copy2(p, signed_dir / p.name)) for p in (*built.output.rpms, built.srpm.srpm)]
        try:
            with step("sign", entry.name):
                sign_packages(built.identity, files)
            with step("verify", entry.name):
                verify_packages(self.rpmdbs, built.public_key, files)
        except (SigningError, VerificationError) as exc:  # a key, a passphrase, a signature: exit 4
            raise SigningError(f"{entry.name}: signing failed: {exc}") from exc
        except AltaiError as exc:
            raise BuildError(f"{entry.name}: signing failed: {exc}") from exc
        check_target(files, self.target_rpm, entry.name)
        seconds = time.monotonic() - built.started
        log.info("%s: built and signed in %.1fs", entry.name, seconds)
        return PackageResult(
            name=entry.name,
            repository=entry.repository,
            source=built.srpm.nevra,
            commit=built.srpm.commit,
            builder=self.builder.name,
            seconds=seconds,
            signed_by=built.identity,
            files=[PlacedFile(f, read_nevra(f)) for f in files],
            notes=list(built.output.notes),
            named_files=built.srpm.named_files,
            built_by=dict(built.output.facts),
            build_root=[p.as_json() for p in built.output.build_root],
        )


def _from_release(srpms: Mapping[str, SrpmResult], published: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Each package's BuildRequires that another package of the release provides: one of this run (its
    packages and Provides), or one the release publishes."""
    provider = {cap: n for n, r in sorted(srpms.items()) for cap in (*r.spec.packages, *r.spec.provides)}
    found = {}
    for name, result in srpms.items():
        wanted = sorted({br.name for br in result.spec.build_requires})
        found[name] = tuple(
            br for br in wanted if provider.get(br, name) != name or published.get(br, name) not in (name, "")
        )
    return found


def make_srpms(
    sources: Mapping[str, PackageSource],
    macro_files: Sequence[Path],
    limits: SandboxLimits,
    staging: Path,
    jobs: int,
) -> dict[str, SrpmResult]:
    def one(name: str) -> SrpmResult:
        source = sources[name]
        log.info("%s: %s %s", name, source.making, source.description)
        try:
            return source.make_srpm(staging / "srpm" / name, macro_files, limits)
        except AltaiError as exc:
            raise type(exc)(f"{name}: making the SRPM failed: {exc}") from exc

    return run_all(list(sources), jobs, one)


def renumber_release_package(
    sources: dict[str, PackageSource],
    srpms: dict[str, SrpmResult],
    builder: Builder,
    layout: ReleaseLayout,
    staging: Path,
) -> None:
    """The release package's Release counts the contents this OUT published; a builder that keeps every NVR
    it built (Koji) may hold that NVR with other contents (a run from another OUT, another base URL): such a
    Release is skipped, never reused, so that the package can be built."""
    taken = getattr(builder, "foreign_build", None)
    if taken is None:
        return
    for name, source in list(sources.items()):
        if not isinstance(source, ReleasePackageSource):
            continue
        for _ in range(_MAX_SKIPPED_RELEASES):
            other = taken(srpms[name].srpm)
            if other is None:
                break
            log.info("%s: the build system has %s with other contents: taking the next Release", name, other)
            source = sources[name] = source.next_release()
            shutil.rmtree(staging / "srpm" / name, ignore_errors=True)
            srpms[name] = source.make_srpm(staging / "srpm" / name, layout.macro_files, layout.sandbox)
        else:
            raise BuildError(f"{name}: {_MAX_SKIPPED_RELEASES} Releases of it are taken by other contents")


def build_packages(
    entries: Mapping[str, PackageEntry],
    srpms: Mapping[str, SrpmResult],
    identities: Mapping[str, SigningIdentity],
    public_keys: Mapping[str, bytes],
    build_one: PackageBuild,
    jobs: int,
) -> dict[str, PackageResult]:
    """Every package built and signed, in BuildRequires order, `jobs` at a time."""
    deps = build_order(
        {n: (*r.spec.packages, *r.spec.provides) for n, r in srpms.items()},
        {n: [br.name for br in r.spec.build_requires] for n, r in srpms.items()},
    )
    build_one.builder.start(deps)
    dependents = {name: tuple(sorted(n for n, needs in deps.items() if name in needs)) for name in deps}
    from_release = _from_release(srpms, build_one.published)
    started = iter(range(1, len(srpms) + 1))
    started_lock = threading.Lock()

    def work(name: str) -> Built:
        with started_lock:
            log.info("[%s/%s] %s: building with %s", next(started), len(srpms), name, build_one.builder.name)
        identity = identities[name]
        unique = f"{name}-{os.getpid()}-{threading.get_ident()}"
        key = public_keys[identity.key_name]
        return build_one.build(entries[name], srpms[name], identity, key, unique, dependents[name], from_release[name])

    # signing waits mostly on gpg-agent: it runs beside the next builds, which need only the unsigned RPMs
    return run_pipeline(deps, jobs, work, lambda _name, built: build_one.finish(built), jobs, build_one.builder.abort)
