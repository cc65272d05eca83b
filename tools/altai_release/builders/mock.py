"""Fedora's mock, driven through its command line as it really behaves (mock 6, mock-core-configs 44):

- the chroot's stock config is found as mock finds it, in the config directory (`/etc/mock`, or the layout's
  `mock_configdir`), then under `eol/` where mock-core-configs keeps end-of-life releases such as EPEL 6;
  a chroot the host's mock does not have is refused before the first build, naming the paths tried;
- the per-build config includes it (mock resolves `include()` against the config directory), sets a stable
  `root` (mock keys its root, package and bootstrap caches by it) and leaves uniqueness to `--uniqueext`;
- a failure is explained from the log that holds the reason, as kojid reads mock's logs: `build.log` when
  rpmbuild ran, else `root.log` (the build root, the bootstrap, a missing BuildRequires), and mock's own
  `ERROR:` line for a config it refuses (exit 3);
- `abort()` stops the running mocks (SIGTERM to each one's process group: mock cleans its mounts itself);
- the results are taken as any sandbox's (sandbox_output): the binary RPMs of the SRPM, never the SRPM mock
  rebuilt; debuginfo packages are left out of the release (named in the package's notes)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import runner
from ..capture import KeptOutput, drain
from ..errors import BuildError, InputError, MockError
from ..limits import DEFAULT_LIMITS
from ..rpmheader import read_identity
from ..sandbox_output import check_binaries, read_text, take_files
from ..templates import render
from .base import BuildJob, BuildOutput

BUILD_TIMEOUT = 4 * 3600
LOG_LIMIT = 64 * 1024 * 1024  # of a log mock leaves in the result directory
OUTPUT_LIMIT = 2 * 1024 * 1024  # of mock's own output (its progress; the build's is in build.log)
RPM_LIMIT = DEFAULT_LIMITS.file_size  # of one result
DEFAULT_CONFIGDIR = Path("/etc/mock")
CONFIG_ERROR = 3  # mock's ConfigError
_CHROOT = re.compile(r"^(eol/)?[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class MockRepo:
    id: str
    name: str
    baseurl: str


def stock_config(configdir: Path, chroot: str) -> str:
    """The stock config of `chroot`, relative to `configdir`, as mock finds it: CHROOT.cfg, else
    eol/CHROOT.cfg (mock-core-configs moves end-of-life releases there)."""
    if not _CHROOT.match(chroot) or ".." in chroot:
        raise InputError(f"mock chroot {chroot!r}: expected a mock config name such as 'epel-6-x86_64'")
    tried = [f"{chroot}.cfg"] if chroot.startswith("eol/") else [f"{chroot}.cfg", f"eol/{chroot}.cfg"]
    for name in tried:
        if (configdir / name).is_file():
            return name
    paths = ", ".join(str(configdir / name) for name in tried)
    raise MockError(f"mock chroot {chroot!r}: this host's mock has no such config (tried {paths}); install "
                    "mock-core-configs, or name another chroot in the layout's mock_chroot")  # fmt: skip


def _said(log: str) -> bool:
    """Whether rpmbuild ran: mock's build.log holds only its `Mock Version` line until it does."""
    return any(line.strip() and "Mock Version" not in line for line in log.splitlines())


def _root_log_reason(log: str) -> str:
    missing = re.findall(r"No matching package to install: '([^']+)'", log)
    if missing:
        return "no package provides the BuildRequires " + ", ".join(dict.fromkeys(missing))
    for line in reversed(log.splitlines()):
        if "Error" in line or "ERROR" in line:
            return line.split(":  ", 1)[-1].strip()
    return ""


@dataclass
class MockBuilder:
    template_dir: Path
    release: str
    # this run's results that other packages of the run BuildRequire (mockchain's local repository): a
    # dependent's chroot installs them from here, as the published release does not have them yet
    run_repo: Path
    repos: Sequence[MockRepo] = ()
    configdir: Path = DEFAULT_CONFIGDIR
    chroots: Sequence[str] = ()  # every chroot the run may use: checked before the first build
    root_prefix: str = "altai"
    executable: str = "mock"
    name: str = "mock"
    _needs: Mapping[str, set[str]] = field(default_factory=dict, init=False, repr=False)
    _stock: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _running: set[subprocess.Popen[bytes]] = field(default_factory=set, init=False, repr=False)
    _aborted: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def config(self, job: BuildJob) -> str:
        repos = list(self.repos)
        if self._needs.get(job.package.name):
            repos.append(
                MockRepo("altai-this-run", f"{self.release}: built earlier in this run", self.run_repo.as_uri())
            )
        for repo in repos:
            if any(c in repo.baseurl + repo.id + repo.name for c in '\n"'):
                raise InputError(f"repository {repo.id!r}: newline or quote in its mock config entry")
        chroot = job.package.mock_chroot
        return render(
            self.template_dir,
            "mock.cfg.j2",
            {
                "package": job.package.name,
                "release": self.release,
                "include": self._stock_config(chroot),
                # stable: mock's caches (root cache, packages, bootstrap) are keyed by it; --uniqueext
                # keeps parallel builds apart
                "root": f"{self.root_prefix}-{chroot.removeprefix('eol/')}",
                "dist": job.package.dist,
                "source_date_epoch": job.source_date_epoch,
                "repos": repos,
            },
        )

    def _stock_config(self, chroot: str) -> str:
        with self._lock:
            if chroot not in self._stock:
                self._stock[chroot] = stock_config(self.configdir, chroot)
            return self._stock[chroot]

    def argv(self, config_file: Path, job: BuildJob, resultdir: Path) -> list[str]:
        configdir = ["--configdir", str(self.configdir)] if self.configdir != DEFAULT_CONFIGDIR else []
        return [
            self.executable,
            "-r",
            str(config_file),
            *configdir,
            "--uniqueext",
            job.unique,
            "--resultdir",
            str(resultdir),
            "--rebuild",
            str(job.srpm.absolute()),
        ]

    def start(self, order: Mapping[str, set[str]]) -> None:
        self._needs = order
        for chroot in self.chroots:  # a chroot this host's mock lacks fails the run before anything is built
            self._stock_config(chroot)
        if any(order.values()):
            self.run_repo.mkdir(parents=True, exist_ok=True)

    def abort(self) -> None:
        """Stop every running mock: SIGTERM to its process group, which mock handles (it unmounts)."""
        self._aborted.set()
        with self._lock:
            running = list(self._running)
        for proc in running:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _run(self, argv: list[str], job: BuildJob) -> tuple[int, str]:
        """mock's exit status and (bounded) output; stopped by abort() or the build timeout."""
        name = job.package.name
        try:
            proc = subprocess.Popen(  # noqa: S603 - an argv list, no shell
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: abort() signals mock and its children
            )  # fmt: skip
        except OSError as exc:
            raise MockError(f"{name}: mock did not run: {exc.strerror or exc}", argv) from exc
        kept = KeptOutput(OUTPUT_LIMIT)
        assert proc.stdout is not None
        reader = drain(proc.stdout, kept)
        with self._lock:
            self._running.add(proc)
        try:
            if self._aborted.is_set():
                os.killpg(proc.pid, signal.SIGTERM)
            expired = threading.Event()

            def expire() -> None:  # a timer, not Popen.wait(timeout=...), which polls with sleeps
                expired.set()
                os.killpg(proc.pid, signal.SIGTERM)

            timer = threading.Timer(BUILD_TIMEOUT, expire)
            timer.start()
            try:
                proc.wait()
            finally:
                timer.cancel()
            if expired.is_set():
                raise MockError(f"{name}: mock took longer than {BUILD_TIMEOUT}s; stopped", argv)
        finally:
            with self._lock:
                self._running.discard(proc)
            reader.join(30)
        return proc.returncode, kept.text()

    def build(self, job: BuildJob) -> BuildOutput:
        if not shutil.which(self.executable):
            raise MockError(f"{job.package.name}: mock is not installed (use --builder rpmbuild)")
        name = job.package.name
        config_file = job.workdir / f"{name}.cfg"
        config_file.write_text(self.config(job), encoding="utf-8")
        resultdir = job.workdir / "result"
        resultdir.mkdir(parents=True, exist_ok=True)
        argv = self.argv(config_file, job, resultdir)
        status, output = self._run(argv, job)
        log = job.logdir / "mock.log"
        log.write_text(output, encoding="utf-8")
        # what the chroot made is as hostile as a local build's results: read as plain files, bounded
        logs = {}
        for log_name in ("build.log", "root.log", "state.log", "hw_info.log"):
            try:
                logs[log_name] = read_text(resultdir, log_name, LOG_LIMIT)
            except (OSError, BuildError):
                continue
            (job.logdir / log_name).write_text(logs[log_name], encoding="utf-8", errors="surrogateescape")
        if self._aborted.is_set() and status != 0:
            raise MockError(f"{name}: mock stopped: the run stopped (another package failed, or it was interrupted)")
        if status != 0:
            raise self._failure(job, status, output, logs, argv)
        try:
            rpms = take_files(resultdir, ".", ".rpm", job.workdir / "results", RPM_LIMIT, 0, ".src.rpm")
        except BuildError as exc:
            raise MockError(f"{name}: mock: {exc}") from exc
        debuginfo = [p for p in rpms if read_identity(p).nevra.name.endswith(("-debuginfo", "-debugsource"))]
        rpms = [p for p in rpms if p not in debuginfo]
        if not rpms:
            raise MockError(f"{name}: mock produced no binary package (log: {log})", argv)
        check_binaries([*rpms, *debuginfo], job.srpm, job.packages, f"{name}: mock")
        notes = [f"debuginfo left out of the release: {', '.join(p.name for p in debuginfo)}"] if debuginfo else []
        if job.dependents:
            self._add_to_run_repo(rpms)
        return BuildOutput(rpms=rpms, log=job.logdir / "build.log", notes=notes)

    def _failure(self, job: BuildJob, status: int, output: str, logs: Mapping[str, str], argv: list[str]) -> MockError:
        """The reason of a failed mock, from the log that holds it (as kojid reads mock's logs)."""
        name, logdir = job.package.name, job.logdir
        if status == CONFIG_ERROR:
            why = runner.reason(output, ("ERROR:",), last=True)
            return MockError(f"{name}: mock refused its config (log: {logdir / 'mock.log'})", argv, why)
        if _said(logs.get("build.log", "")):
            why = runner.reason(logs["build.log"], ("error:", "Bad exit status"), after="RPM build errors:", last=True)
            return MockError(f"{name}: build failed in mock (log: {logdir / 'build.log'})", argv, why)
        if "root.log" in logs:
            why = _root_log_reason(logs["root.log"]) or runner.reason(output, ("ERROR:",), last=True)
            return MockError(f"{name}: mock could not prepare the build root (log: {logdir / 'root.log'})", argv, why)
        why = runner.reason(output, ("ERROR:",), last=True)
        return MockError(f"{name}: mock failed (exit {status}; log: {logdir / 'mock.log'})", argv, why)

    def _add_to_run_repo(self, rpms: Sequence[Path]) -> None:
        """Before the dependents start (they start when this build returns): the RPMs and fresh metadata."""
        from ..repodata import write_repodata

        with self._lock:
            for rpm in rpms:
                os.link(rpm, self.run_repo / rpm.name)
            write_repodata(self.run_repo, {}, 0)
