"""Fedora's mock, driven through its command line: a per-build config rendered from the layout's
template (chroot, dist, the release's own repositories), `--rebuild SRPM --resultdir DIR` with a unique
root so that parallel builds do not share a chroot. A failed build reports the tail of build.log or
root.log."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ..errors import InputError, MockError
from .base import BuildJob, BuildOutput

BUILD_TIMEOUT = 4 * 3600


@dataclass(frozen=True)
class MockRepo:
    id: str
    name: str
    baseurl: str


def _pyrepr(value: Any) -> str:
    """A Python literal of a string, safe to place in the config that mock execs."""
    return repr(str(value))


def render_config(template_dir: Path, context: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, autoescape=False,  # noqa: S701 - a Python config, not HTML
    )  # fmt: skip
    env.filters["pyrepr"] = _pyrepr
    try:
        return env.get_template("mock.cfg.j2").render(**context)
    except jinja2.TemplateError as exc:
        raise InputError(f"{template_dir / 'mock.cfg.j2'}: cannot render the mock config: {exc}") from exc


@dataclass
class MockBuilder:
    template_dir: Path
    release: str
    repos: Sequence[MockRepo] = ()
    executable: str = "mock"
    name: str = "mock"

    def config(self, job: BuildJob) -> str:
        for repo in self.repos:
            if any(c in repo.baseurl + repo.id + repo.name for c in '\n"'):
                raise InputError(f"repository {repo.id!r}: newline or quote in its mock config entry")
        return render_config(self.template_dir, {
            "package": job.package.name,
            "release": self.release,
            "chroot": job.package.mock_chroot,
            "root": f"altai-{job.package.mock_chroot}-{job.unique}",
            "dist": job.package.dist,
            "source_date_epoch": job.source_date_epoch,
            "repos": list(self.repos),
        })  # fmt: skip

    def argv(self, config_file: Path, job: BuildJob, resultdir: Path) -> list[str]:
        return [self.executable, "-r", str(config_file), "--uniqueext", job.unique,
                "--resultdir", str(resultdir), "--rebuild", str(job.srpm.absolute())]  # fmt: skip

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
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",  # noqa: S603
                                  timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MockError(f"{job.package.name}: mock did not run: {exc}", argv) from exc
        log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
        for name in ("build.log", "root.log", "state.log"):
            if (resultdir / name).exists():
                shutil.copy2(resultdir / name, job.logdir / name)
        if proc.returncode != 0:
            failed_log = next((job.logdir / n for n in ("build.log", "root.log")
                               if (job.logdir / n).exists()), log)  # fmt: skip
            tail = failed_log.read_text(encoding="utf-8", errors="replace")
            raise MockError(f"{job.package.name}: build failed in mock (log: {failed_log})", argv,
                            _last_error(tail))  # fmt: skip
        rpms = sorted(p for p in resultdir.glob("*.rpm") if not p.name.endswith(".src.rpm"))
        if not rpms:
            raise MockError(f"{job.package.name}: mock produced no binary package (log: {log})", argv)
        return BuildOutput(rpms=rpms, log=job.logdir / "build.log")


def _last_error(log_text: str) -> str:
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or [""])[-1]
