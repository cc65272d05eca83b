"""The local builder: `rpmbuild --rebuild` in a private topdir inside bubblewrap (no network, no
~/.rpmmacros, fixed HOME, TZ and LANG), with the layout's EL macros and the sandbox's limits. The SRPM sits
in a directory the build sees read-only; the RPMs come back through sandbox_output and must be packages
of that SRPM. Debian's rpmdb is empty, so BuildRequires cannot be checked: the builder says which ones it
did not check, and refuses a package whose BuildRequires are packages of the release (mock installs them)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from altai_release.builders.builder import BuildJob, BuildOutput
from altai_release.builders.rootrecord import host_root
from altai_release.core.errors import BuildError, InputError, RpmbuildError
from altai_release.core.limits import DEFAULT_LIMITS, SandboxLimits
from altai_release.sandbox.output import check_binaries
from altai_release.specfile.rpmbuild import INNER_TOPDIR, Rpmbuild


@dataclass
class LocalBuilder:
    macro_files: Sequence[Path]
    limits: SandboxLimits = DEFAULT_LIMITS
    name: str = "rpmbuild"

    def start(self, order: Mapping[str, set[str]]) -> None:
        pass  # builds on this machine: nothing to check before the first

    def describe(self) -> str:
        return (
            "the local rpmbuild in a sandbox: it installs no BuildRequires and builds against this host's files "
            "(a package that BuildRequires another of the release needs mock: --builder mock)"
        )

    def abort(self) -> None:
        pass  # a running build's sandbox dies with the run

    def build(self, job: BuildJob) -> BuildOutput:
        if job.from_release:
            raise InputError(
                f"{job.package.name}: BuildRequires {', '.join(job.from_release)}, of this release: the local "
                "builder installs no BuildRequires and would build it against whatever this host has; build it "
                "with mock (--builder mock), which installs them"
            )
        log = job.logdir / "build.log"
        srpms = job.workdir / "in"
        rpmbuild = Rpmbuild(
            topdir=job.workdir / "top",
            defines=[("dist", job.package.dist)] if job.package.dist else [],
            macro_files=list(self.macro_files),
            source_date_epoch=job.source_date_epoch,
            inputs={srpms: INNER_TOPDIR / "SRPMS"},
            limits=self.limits,
        )
        rpmbuild.prepare()
        srpm = srpms / job.srpm.name
        shutil.copyfile(job.srpm, srpm)
        try:
            with rpmbuild.writable_topdir():
                rpms = rpmbuild.rebuild(srpm, job.workdir / "results", log=log)
        except RpmbuildError as exc:
            raise BuildError(f"{job.package.name}: build failed in rpmbuild (log: {log})", exc.cmd, exc.stderr) from exc
        except BuildError as exc:  # a result that is not a plain file
            raise BuildError(f"{job.package.name}: rpmbuild: {exc}") from exc
        if not rpms:
            raise BuildError(f"{job.package.name}: rpmbuild produced no binary package (log: {log})")
        check_binaries(rpms, job.srpm, job.packages, f"{job.package.name}: rpmbuild")
        notes = []
        if job.build_requires:
            notes.append(
                "BuildRequires not checked (local rpmbuild --nodeps, Debian's rpmdb is empty): "
                + ", ".join(job.build_requires)
            )
        return BuildOutput(rpms=rpms, log=log, notes=notes, facts={"builder": "local"}, build_root=host_root())
