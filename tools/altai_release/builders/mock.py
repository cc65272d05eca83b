"""Fedora's mock, driven through its command line: a per-build config rendered from the layout's
template (chroot, dist, the release's own repositories), `--rebuild SRPM --resultdir DIR` with a unique
root so that parallel builds do not share a chroot. A failed build reports the tail of build.log or
root.log."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import runner
from ..errors import BuildError, InputError, MockError
from ..limits import DEFAULT_LIMITS
from ..sandbox_output import check_binaries, read_text, take_files
from ..templates import render
from .base import BuildJob, BuildOutput

BUILD_TIMEOUT = 4 * 3600
LOG_LIMIT = 64 * 1024 * 1024  # of a log mock leaves in the result directory
RPM_LIMIT = DEFAULT_LIMITS.file_size  # of one result


@dataclass(frozen=True)
class MockRepo:
    id: str
    name: str
    baseurl: str


@dataclass
class MockBuilder:
    template_dir: Path
    release: str
    # this run's results that other packages of the run BuildRequire (mockchain's local repository): a
    # dependent's chroot installs them from here, as the published release does not have them yet
    run_repo: Path
    repos: Sequence[MockRepo] = ()
    executable: str = "mock"
    name: str = "mock"
    _needs: Mapping[str, set[str]] = field(default_factory=dict, init=False, repr=False)
    _run_repo_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def config(self, job: BuildJob) -> str:
        repos = list(self.repos)
        if self._needs.get(job.package.name):
            repos.append(
                MockRepo("altai-this-run", f"{self.release}: built earlier in this run", self.run_repo.as_uri())
            )
        for repo in repos:
            if any(c in repo.baseurl + repo.id + repo.name for c in '\n"'):
                raise InputError(f"repository {repo.id!r}: newline or quote in its mock config entry")
        return render(
            self.template_dir,
            "mock.cfg.j2",
            {
                "package": job.package.name,
                "release": self.release,
                "chroot": job.package.mock_chroot,
                "root": f"altai-{job.package.mock_chroot}-{job.unique}",
                "dist": job.package.dist,
                "source_date_epoch": job.source_date_epoch,
                "repos": repos,
            },
        )

    def argv(self, config_file: Path, job: BuildJob, resultdir: Path) -> list[str]:
        return [
            self.executable,
            "-r",
            str(config_file),
            "--uniqueext",
            job.unique,
            "--resultdir",
            str(resultdir),
            "--rebuild",
            str(job.srpm.absolute()),
        ]

    def start(self, order: Mapping[str, set[str]]) -> None:
        self._needs = order
        if any(order.values()):
            self.run_repo.mkdir(parents=True, exist_ok=True)

    def abort(self) -> None:
        pass  # a running build's sandbox dies with the run

    def build(self, job: BuildJob) -> BuildOutput:
        executable = shutil.which(self.executable)
        if not executable:
            raise MockError(f"{job.package.name}: mock is not installed (use --builder rpmbuild)")
        config_file = job.workdir / f"{job.package.name}.cfg"
        config_file.write_text(self.config(job), encoding="utf-8")
        resultdir = job.workdir / "result"
        resultdir.mkdir(parents=True, exist_ok=True)
        argv = self.argv(config_file, job, resultdir)
        log = job.logdir / "mock.log"
        proc = runner.run(argv, MockError, f"{job.package.name}: mock did not run", timeout=BUILD_TIMEOUT, check=False)
        log.write_text(runner.text(proc.stdout + proc.stderr), encoding="utf-8")
        # what the chroot made is as hostile as a local build's results: read as plain files, bounded
        for name in ("build.log", "root.log", "state.log"):
            try:
                text = read_text(resultdir, name, LOG_LIMIT)
            except (OSError, BuildError):
                continue
            (job.logdir / name).write_text(text, encoding="utf-8", errors="surrogateescape")
        if proc.returncode != 0:
            failed_log = next((job.logdir / n for n in ("build.log", "root.log") if (job.logdir / n).exists()), log)
            tail = failed_log.read_text(encoding="utf-8", errors="replace")
            why = runner.reason(tail, ("error:", "error "), last=True)
            raise MockError(f"{job.package.name}: build failed in mock (log: {failed_log})", argv, why)
        try:
            rpms = take_files(resultdir, ".", ".rpm", job.workdir / "results", RPM_LIMIT, 0, ".src.rpm")
        except BuildError as exc:
            raise MockError(f"{job.package.name}: mock: {exc}") from exc
        if not rpms:
            raise MockError(f"{job.package.name}: mock produced no binary package (log: {log})", argv)
        check_binaries(rpms, job.srpm, job.packages, f"{job.package.name}: mock")
        if job.dependents:
            self._add_to_run_repo(rpms)
        return BuildOutput(rpms=rpms, log=job.logdir / "build.log")

    def _add_to_run_repo(self, rpms: Sequence[Path]) -> None:
        """Before the dependents start (they start when this build returns): the RPMs and fresh metadata."""
        from ..repodata import write_repodata

        with self._run_repo_lock:
            for rpm in rpms:
                os.link(rpm, self.run_repo / rpm.name)
            write_repodata(self.run_repo, {}, 0)
