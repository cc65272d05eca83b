"""The local builder: `rpmbuild --rebuild` in a private topdir inside bubblewrap (no network, no
~/.rpmmacros, fixed HOME, TZ and LANG), with the layout's EL macros. Debian's rpmdb is empty, so
BuildRequires cannot be checked: the builder says which ones it did not check."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError, RpmbuildError
from ..rpmbuild import Rpmbuild
from .base import BuildJob, BuildOutput


@dataclass
class LocalBuilder:
    macro_files: Sequence[Path]
    name: str = "rpmbuild"

    def start(self, order: Mapping[str, set[str]]) -> None:
        pass  # builds on this machine: nothing to check before the first

    def abort(self) -> None:
        pass  # a running build's sandbox dies with the run

    def build(self, job: BuildJob) -> BuildOutput:
        log = job.logdir / "build.log"
        top = job.workdir / "top"
        rpmbuild = Rpmbuild(
            topdir=top,
            defines=[("dist", job.package.dist)] if job.package.dist else [],
            macro_files=list(self.macro_files),
            source_date_epoch=job.source_date_epoch,
            readonly=sorted({m.parent for m in self.macro_files}),
        )
        rpmbuild.prepare()
        srpm = top / "SRPMS" / job.srpm.name
        shutil.copy2(job.srpm, srpm)
        try:
            rpms = rpmbuild.rebuild(srpm, log=log)
        except RpmbuildError as exc:
            raise BuildError(f"{job.package.name}: build failed in rpmbuild (log: {log})", exc.cmd, exc.stderr) from exc
        if not rpms:
            raise BuildError(f"{job.package.name}: rpmbuild produced no binary package (log: {log})")
        notes = []
        if job.build_requires:
            notes.append(
                "BuildRequires not checked (local rpmbuild --nodeps, Debian's rpmdb is empty): "
                + ", ".join(job.build_requires)
            )
        return BuildOutput(rpms=rpms, log=log, notes=notes)
