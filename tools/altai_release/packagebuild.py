"""One package from its SRPM to signed and verified files in the staging area: the builder builds, then
every binary RPM and the SRPM are signed with the package's key and checked against its public half."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .builders import Builder, BuildJob
from .errors import AltaiError, BuildError
from .layout import PackageEntry
from .packages import read_nevra
from .results import PackageResult, PlacedFile
from .signing import KeyDatabases, SigningIdentity, sign_packages, verify_packages
from .srpm import SrpmResult


@dataclass(frozen=True)
class PackageBuild:
    builder: Builder
    rpmdbs: KeyDatabases
    staging: Path
    logdir: Callable[[str], Path]
    progress: Callable[[str], None]

    def __call__(
        self, entry: PackageEntry, srpm: SrpmResult, identity: SigningIdentity, public_key: bytes, unique: str
    ) -> PackageResult:
        start = time.monotonic()
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
        )
        output = self.builder.build(job)
        signed_dir = self.staging / "signed" / entry.name
        signed_dir.mkdir(parents=True)
        files = [Path(shutil.copy2(p, signed_dir / p.name)) for p in (*output.rpms, srpm.srpm)]
        try:
            sign_packages(identity, files)
            verify_packages(self.rpmdbs, public_key, files)
        except AltaiError as exc:
            raise BuildError(f"{entry.name}: signing failed: {exc}") from exc
        seconds = time.monotonic() - start
        self.progress(f"{entry.name}: built and signed in {seconds:.1f}s")
        return PackageResult(
            entry.name,
            entry.repository,
            srpm.nevra,
            srpm.commit,
            self.builder.name,
            seconds,
            identity,
            files=[PlacedFile(f, read_nevra(f)) for f in files],
            notes=list(output.notes),
            named_files=srpm.named_files,
        )
