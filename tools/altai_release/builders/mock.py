"""Fedora's mock as the builder, as it really behaves (mock 6.7, mock-core-configs 44), run as root of a user
namespace of unprivileged ids (`mockjail`), never as the host's root:

- the build root's base is the layout's (`bases`: the host-derived base, a chroot config of mock's own, a base
  OS mirror), made or found before the first build; the per-build config includes it (mock resolves
  `include()` against its config directory), names a `root` that changes with what the root holds (mock keys
  its root cache by it: a cached root of an older base is never reused) and leaves uniqueness to
  `--uniqueext`; every root gets the run's packages of the release that it needs (mockchain's local
  repository) and the published release's repositories, so that `BuildRequires: liba` installs this release's;
- each build's root lives in its own directory of the run's staging area (removed with it, whatever
  happens), the root cache and dnf's package cache in the state directory (kept for the next run);
- a failure is explained from the log that holds the reason, as kojid reads mock's logs (`mockprocess`);
- `abort()` kills the running mocks' sandboxes, and with them every process and mount of theirs;
- the results are taken as any sandbox's (sandbox_output): the binary RPMs of the SRPM, never the SRPM mock
  rebuilt; debuginfo packages are left out of the release (named in the package's notes)."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from altai_release.builders.bases import RootBase, root_base
from altai_release.builders.builder import BuildJob, BuildOutput
from altai_release.builders.mockfailure import failure
from altai_release.builders.mockinstall import MockInstall
from altai_release.builders.mockjail import JailedRun, MockJails, dbpath_macros
from altai_release.builders.rootrecord import installed, repository_files
from altai_release.core.errors import BuildError, InputError, MockError, SandboxLimitError
from altai_release.core.templates import render
from altai_release.layout import ReleaseLayout
from altai_release.rpm.rpmheader import read_identity
from altai_release.sandbox.output import check_binaries, read_text, take_files

LOG_LIMIT = 64 * 1024 * 1024  # of a log mock leaves in the result directory
LOGS = ("build.log", "root.log", "state.log", "hw_info.log", "installed_pkgs.log")


@dataclass(frozen=True)
class MockRepo:
    id: str
    name: str
    baseurl: str


@dataclass
class MockBuilder:
    install: MockInstall
    layout: ReleaseLayout
    state_dir: Path  # the host-derived base and mock's caches live here
    # this run's results that other packages of the run BuildRequire (mockchain's local repository): a
    # dependent's chroot installs them from here, as the published release does not have them yet
    run_repo: Path
    repos: Sequence[MockRepo] = ()
    name: str = "mock"
    _needs: Mapping[str, set[str]] = field(default_factory=dict, init=False, repr=False)
    _bases: dict[str, RootBase] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _jails: MockJails = field(default_factory=MockJails, init=False, repr=False)
    _stubs: Path | None = field(default=None, init=False, repr=False)

    @property
    def configdir(self) -> Path:
        return self.layout.mock_configdir or self.install.configdir

    def base(self, chroot: str) -> RootBase:
        with self._lock:
            key = chroot if self.layout.buildroot.base == "mock" else ""
            if key not in self._bases:
                layout = self.layout if chroot == self.layout.mock_chroot else _with_chroot(self.layout, chroot)
                self._bases[key] = root_base(layout, self.configdir, self.state_dir)
            return self._bases[key]

    def config(self, job: BuildJob) -> str:
        repos = list(self.repos)
        if self._stubs is not None:
            repos.append(
                MockRepo("altai-buildroot-stubs", "names without files ([buildroot] stubs)", self._stubs.as_uri())
            )
        # a package needs one of the run, or a round of rebuilds comes after what the run built
        if self._needs.get(job.package.name) or (self.run_repo / "repodata" / "repomd.xml").is_file():
            repos.append(
                MockRepo("altai-this-run", f"{self.layout.name}: built earlier in this run", self.run_repo.as_uri())
            )
        for repo in repos:
            if any(c in repo.baseurl + repo.id + repo.name for c in '\n"'):
                raise InputError(f"repository {repo.id!r}: newline or quote in its mock config entry")
        base = self.base(job.package.mock_chroot)
        return render(
            self.layout.templates,
            "mock.cfg.j2",
            {
                "package": job.package.name,
                "release": f"{self.layout.name} {self.layout.version}",
                "include": base.include,
                "root": base.root,
                "basedir": str(job.workdir / "mock-root"),
                "cache_topdir": str(self.state_dir / "cache" / "mock"),
                "packages": list(self.layout.buildroot.packages),
                "dist": job.package.dist,
                "source_date_epoch": job.source_date_epoch,
                "repos": repos,
            },
        )

    def argv(self, config_file: Path, job: BuildJob, resultdir: Path) -> list[str]:
        """mock's arguments (after its program)."""
        return [
            "-r",
            str(config_file),
            "--configdir",
            str(self.configdir),
            "--uniqueext",
            job.unique,
            "--resultdir",
            str(resultdir),
            "--rebuild",
            str(job.srpm.absolute()),
        ]

    def start(self, order: Mapping[str, set[str]]) -> None:
        self._needs = order
        for chroot in sorted({p.mock_chroot for p in self.layout.packages.values()}):
            self.base(chroot)  # made (the host base) or checked (a chroot this mock lacks) before any build
        from altai_release.builders.bases.stubs import stubs_repo

        self._stubs = stubs_repo(self.layout, self.state_dir)
        if any(order.values()):
            self.run_repo.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        base = self.base(self.layout.mock_chroot)
        stubs = self.layout.buildroot.stubs
        taken = f"; names taken on trust, without files ([buildroot] stubs): {', '.join(stubs)}" if stubs else ""
        return f"{self.install.describe()}; build root: {base.description}{taken}"

    def abort(self) -> None:
        self._jails.abort()

    def build(self, job: BuildJob) -> BuildOutput:
        name = job.package.name
        config_file = job.workdir / f"{name}.cfg"
        config_file.write_text(self.config(job), encoding="utf-8")
        resultdir = job.workdir / "result"
        resultdir.mkdir(parents=True, exist_ok=True)
        roots = [job.workdir / "mock-root", self.state_dir / "cache" / "mock"]
        for directory in roots:
            directory.mkdir(parents=True, exist_ok=True)
        argv = self.argv(config_file, job, resultdir)
        jailed = JailedRun(
            self.install,
            argv,
            readonly=[job.workdir, job.srpm.parent, *self.base(job.package.mock_chroot).shown, *self._repo_paths()],
            root_dirs=roots,
            resultdir=resultdir,
            dnf_cache=_made(job.workdir / "dnf-cache"),
            macros_dir=dbpath_macros(job.workdir / "macros.d"),
            limits=self.layout.sandbox,
        )
        try:
            done = self._jails.run(jailed, f"{name}: mock", self.layout.sandbox.build_seconds)
        except SandboxLimitError as exc:
            raise MockError(f"{name}: mock: {exc}", [*self.install.command, *argv]) from exc
        output = done.stdout + done.stderr
        (job.logdir / "mock.log").write_text(output, encoding="utf-8", errors="surrogateescape")
        logs = self._keep_logs(resultdir, job.logdir)
        if self._jails.aborted.is_set() and done.returncode != 0:
            raise MockError(f"{name}: mock stopped: the run stopped (another package failed, or it was interrupted)")
        if done.returncode != 0:
            raise failure(name, job.logdir, done.returncode, output, logs, [*self.install.command, *argv])
        return self._results(job, resultdir, logs)

    def _repo_paths(self) -> list[Path]:
        """The host directories of the file:// repositories the chroot reads."""
        urls = [r.baseurl for r in self.repos] + [self.run_repo.as_uri()]
        urls += [self._stubs.as_uri()] if self._stubs is not None else []
        return [Path(os.path.realpath(unquote(urlsplit(u).path))) for u in urls if u.startswith("file://")]

    @staticmethod
    def _keep_logs(resultdir: Path, logdir: Path) -> dict[str, str]:
        """What the chroot made is as hostile as a local build's results: read as plain files, bounded."""
        logs = {}
        for log_name in LOGS:
            try:
                logs[log_name] = read_text(resultdir, log_name, LOG_LIMIT)
            except (OSError, BuildError):
                continue
            (logdir / log_name).write_text(logs[log_name], encoding="utf-8", errors="surrogateescape")
        return logs

    def _results(self, job: BuildJob, resultdir: Path, logs: dict[str, str]) -> BuildOutput:
        name = job.package.name
        try:
            rpms = take_files(
                resultdir, ".", ".rpm", job.workdir / "results", self.layout.sandbox.file_size, 0, ".src.rpm"
            )
        except BuildError as exc:
            raise MockError(f"{name}: mock: {exc}") from exc
        debuginfo = [p for p in rpms if read_identity(p).nevra.name.endswith(("-debuginfo", "-debugsource"))]
        rpms = [p for p in rpms if p not in debuginfo]
        if not rpms:
            raise MockError(f"{name}: mock produced no binary package (log: {job.logdir / 'build.log'})")
        check_binaries([*rpms, *debuginfo], job.srpm, job.packages, f"{name}: mock")
        notes = [f"debuginfo left out of the release: {', '.join(p.name for p in debuginfo)}"] if debuginfo else []
        if job.dependents:
            self._add_to_run_repo(rpms)
        base = self.base(job.package.mock_chroot)
        facts = {"builder": "mock", "chroot": base.name, "config_sha256": base.digest}
        root = installed(logs.get("installed_pkgs.log", ""), self._origins(), "base")
        return BuildOutput(rpms=rpms, log=job.logdir / "build.log", notes=notes, facts=facts, build_root=root)

    def _origins(self) -> dict[str, str]:
        """The repositories a root's packages may come from, by label, and the RPMs each has."""
        repositories = {"this run": self.run_repo}
        for repo in self.repos:
            if repo.baseurl.startswith("file://"):
                repositories[repo.id.removeprefix("altai-")] = Path(unquote(urlsplit(repo.baseurl).path))
        if self._stubs is not None:
            repositories["stubs"] = self._stubs
        return repository_files(repositories)  # what none of them has came from the base

    def _add_to_run_repo(self, rpms: Sequence[Path]) -> None:
        """Before the dependents start (they start when this build returns): the RPMs and fresh metadata."""
        from altai_release.rpm.repodata import write_repodata

        with self._lock:
            for rpm in rpms:
                os.link(rpm, self.run_repo / rpm.name)
            write_repodata(self.run_repo, {}, 0)


def _made(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _with_chroot(layout: ReleaseLayout, chroot: str) -> ReleaseLayout:
    from dataclasses import replace

    return replace(layout, mock_chroot=chroot)
