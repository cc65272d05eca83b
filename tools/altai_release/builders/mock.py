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
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from altai_release.builders.builder import BuildJob, BuildOutput
from altai_release.builders.mockprocess import MockProcesses, failure
from altai_release.core.errors import BuildError, InputError, MockError
from altai_release.core.hashing import file_sha256
from altai_release.core.limits import DEFAULT_LIMITS
from altai_release.core.templates import render
from altai_release.rpm.rpmheader import read_identity
from altai_release.sandbox.output import check_binaries, read_text, take_files

LOG_LIMIT = 64 * 1024 * 1024  # of a log mock leaves in the result directory
RPM_LIMIT = DEFAULT_LIMITS.file_size  # of one result
DEFAULT_CONFIGDIR = Path("/etc/mock")
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
    raise MockError(
        f"mock chroot {chroot!r}: this host's mock has no such config (tried {paths}); install "
        "mock-core-configs, or name another chroot in the layout's mock_chroot"
    )


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
    _processes: MockProcesses = field(default_factory=MockProcesses, init=False, repr=False)

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
        self._processes.abort()

    def build(self, job: BuildJob) -> BuildOutput:
        if not shutil.which(self.executable):
            raise MockError(f"{job.package.name}: mock is not installed (use --builder rpmbuild)")
        name = job.package.name
        config_file = job.workdir / f"{name}.cfg"
        config_file.write_text(self.config(job), encoding="utf-8")
        resultdir = job.workdir / "result"
        resultdir.mkdir(parents=True, exist_ok=True)
        argv = self.argv(config_file, job, resultdir)
        status, output = self._processes.run(argv, name)
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
        if self._processes.aborted.is_set() and status != 0:
            raise MockError(f"{name}: mock stopped: the run stopped (another package failed, or it was interrupted)")
        if status != 0:
            raise failure(name, job.logdir, status, output, logs, argv)
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
        return BuildOutput(rpms=rpms, log=job.logdir / "build.log", notes=notes, facts=self._facts(job))

    def _facts(self, job: BuildJob) -> dict[str, str]:
        """The chroot this build ran in, named by its stock config's SHA-256 (what mock built the root from)."""
        chroot = job.package.mock_chroot
        digest = file_sha256(self.configdir / self._stock_config(chroot))
        return {"builder": "mock", "chroot": chroot, "config_sha256": digest}

    def _add_to_run_repo(self, rpms: Sequence[Path]) -> None:
        """Before the dependents start (they start when this build returns): the RPMs and fresh metadata."""
        from altai_release.rpm.repodata import write_repodata

        with self._lock:
            for rpm in rpms:
                os.link(rpm, self.run_repo / rpm.name)
            write_repodata(self.run_repo, {}, 0)
