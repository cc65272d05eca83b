"""tools/build.py's core: package names -> SRPMs -> binary RPMs (mock or local rpmbuild) -> signed and
verified -> placed in the release tree. All or nothing: until every requested package has built and every
package is signed and verified, nothing is placed in the output directory."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from .builders import Builder, BuildJob, BuildOutput, LocalBuilder, MockBuilder, choose_builder_kind
from .builders.mock import MockRepo
from .errors import AltaiError, BuildError, InputError
from .layout import PROJECT_ROOT, PackageEntry, ReleaseLayout
from .nevra import Nevra
from .packages import read_nevra
from .signing import KeyResolver, SigningIdentity, sign_packages, verify_packages
from .srpm import SrpmRequest, SrpmResult, make_srpm

DEFAULT_OUT = PROJECT_ROOT / "out"
DEFAULT_STATE = PROJECT_ROOT / ".state"


@dataclass(frozen=True)
class BuildOptions:
    out: Path = DEFAULT_OUT
    state_dir: Path = DEFAULT_STATE
    builder: str = "auto"
    jobs: int = os.cpu_count() or 1
    sign_key: str | None = None
    require_key: bool = False
    passphrase_file: Path | None = None
    gnupghome: Path | None = None


@dataclass(frozen=True)
class PlacedFile:
    path: Path  # final path in the release tree
    nevra: Nevra


@dataclass
class PackageResult:
    name: str
    repository: str
    source: Nevra
    commit: str
    builder: str
    seconds: float
    signed_by: SigningIdentity
    files: list[PlacedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "package": self.name, "repository": self.repository, "nevra": str(self.source),
            "commit": self.commit, "builder": self.builder, "seconds": round(self.seconds, 3),
            "signed_by": {"key": self.signed_by.key_name, "fingerprint": self.signed_by.fingerprint,
                          "development": self.signed_by.development},
            "files": [{"path": str(f.path), "nevra": str(f.nevra)} for f in self.files],
            "notes": self.notes,
        }  # fmt: skip


Progress = Callable[[str], None]


def build_order(srpms: dict[str, SrpmResult]) -> dict[str, set[str]]:
    """For each package, the packages of this run it BuildRequires; a cycle is an error naming it."""
    provider: dict[str, str] = {}
    for name, result in srpms.items():
        for provided in (*result.spec.packages, *result.spec.provides):
            provider.setdefault(provided, name)
    deps = {name: {provider[br.name] for br in result.spec.build_requires
                   if br.name in provider and provider[br.name] != name}
            for name, result in srpms.items()}  # fmt: skip
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(deps[node]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                raise InputError(f"BuildRequires cycle between packages: {' -> '.join(cycle)}")
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(deps):
        if node not in state:
            visit(node)
    return deps


class ReleaseBuild:
    def __init__(self, layout: ReleaseLayout, options: BuildOptions, progress: Progress | None = None) -> None:
        self.layout = layout
        self.options = options
        self.progress = progress or (lambda _msg: None)
        self.keys = KeyResolver(options.state_dir, options.gnupghome, options.sign_key, options.require_key,
                                options.passphrase_file)  # fmt: skip
        self.builder_kind = choose_builder_kind(options.builder)
        self._lock = threading.Lock()

    def _builder(self, staging: Path) -> Builder:
        if self.builder_kind == "mock":
            repos = [MockRepo(f"altai-{name}", f"{self.layout.name} {name}", (self.options.out / repo.path).as_uri())
                     for name, repo in self.layout.repositories.items()
                     if repo.content != "sources" and (self.options.out / repo.path / "repodata").is_dir()]
            return MockBuilder(self.layout.templates, f"{self.layout.name} {self.layout.version}", repos)
        return LocalBuilder(self.layout.macro_files)

    def run(self, names: Sequence[str]) -> list[PackageResult]:
        entries = [self.layout.package(n) for n in dict.fromkeys(names)]
        if not entries:
            raise InputError("no package to build: name packages or use --all")
        out = self.options.out.absolute()
        try:
            out.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".build-", dir=out))
        except OSError as exc:
            raise InputError(f"cannot write to output directory {out}: {exc.strerror}") from exc
        try:
            identities = {e.name: self.keys.resolve(self.layout.key_for(e.repository)) for e in entries}
            for note in self.keys.notes:
                self.progress(f"note: {note}")
            srpms = self._make_srpms(entries, staging)
            deps = build_order(srpms)
            builder = self._builder(staging)
            results = self._build_all(entries, srpms, deps, builder, identities, staging)
            self._place(results, identities, out)
            return [results[e.name] for e in entries]
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _logdir(self, name: str) -> Path:
        path = self.options.out.absolute() / "logs" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _make_srpms(self, entries: list[PackageEntry], staging: Path) -> dict[str, SrpmResult]:
        def one(entry: PackageEntry) -> SrpmResult:
            self.progress(f"{entry.name}: making the SRPM from {entry.git} at {entry.ref}")
            request = SrpmRequest(
                repo=entry.git, ref=entry.ref, subdir=entry.subdir, spec=entry.spec,
                outdir=staging / "srpm" / entry.name, dist=entry.dist or None, keep_tarball=False,
                macro_files=self.layout.macro_files,
            )  # fmt: skip
            try:
                return make_srpm(request, warn=lambda msg: self.progress(f"warning: {entry.name}: {msg}"))
            except AltaiError as exc:
                raise AltaiError(f"{entry.name}: making the SRPM failed: {exc}") from exc

        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
            futures = {e.name: pool.submit(one, e) for e in entries}
            return {name: future.result() for name, future in futures.items()}

    def _build_all(self, entries: list[PackageEntry], srpms: dict[str, SrpmResult], deps: dict[str, set[str]],
                   builder: Builder, identities: dict[str, SigningIdentity],
                   staging: Path) -> dict[str, PackageResult]:  # fmt: skip
        by_name = {e.name: e for e in entries}
        done: dict[str, PackageResult] = {}
        pending = set(by_name)
        running: dict[Future[PackageResult], str] = {}
        total = len(entries)
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
            while pending or running:
                ready = sorted(n for n in pending if deps[n] <= set(done))
                for name in ready:
                    pending.discard(name)
                    self.progress(f"[{len(done) + len(running) + 1}/{total}] {name}: building with {builder.name}")
                    future = pool.submit(self._build_one, by_name[name], srpms[name], builder,
                                         identities[name], staging)  # fmt: skip
                    running[future] = name
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    error = future.exception()
                    if error is not None:
                        for other in running:
                            other.cancel()
                        raise error
                    done[name] = future.result()
                    self.progress(f"{name}: built and signed in {done[name].seconds:.1f}s")
        return done

    def _build_one(self, entry: PackageEntry, srpm: SrpmResult, builder: Builder, identity: SigningIdentity,
                   staging: Path) -> PackageResult:  # fmt: skip
        start = time.monotonic()
        workdir = staging / "build" / entry.name
        workdir.mkdir(parents=True)
        job = BuildJob(
            package=entry, srpm=srpm.srpm, workdir=workdir, logdir=self._logdir(entry.name),
            source_date_epoch=srpm.commit_time, unique=f"{entry.name}-{os.getpid()}-{threading.get_ident()}",
            build_requires=tuple(sorted({br.name for br in srpm.spec.build_requires})),
        )  # fmt: skip
        output: BuildOutput = builder.build(job)
        signed_dir = staging / "signed" / entry.name
        signed_dir.mkdir(parents=True)
        files = [Path(shutil.copy2(p, signed_dir / p.name)) for p in (*output.rpms, srpm.srpm)]
        try:
            sign_packages(identity, files)
            verify_packages(identity.keyring.export_public(identity.fingerprint), files)
        except AltaiError as exc:
            raise BuildError(f"{entry.name}: signing failed: {exc}") from exc
        result = PackageResult(entry.name, entry.repository, srpm.nevra, srpm.commit, builder.name,
                               time.monotonic() - start, identity, notes=list(output.notes))  # fmt: skip
        result.files = [PlacedFile(f, read_nevra(f)) for f in files]
        return result

    def _place(self, results: dict[str, PackageResult], identities: dict[str, SigningIdentity], out: Path) -> None:
        """Move every signed file into its repository. Runs only after every package succeeded."""
        for identity in {i.key_name: i for i in identities.values()}.values():
            key_file = out / f"RPM-GPG-KEY-{identity.key_name}"
            tmp = out / f".{key_file.name}.tmp"
            tmp.write_bytes(identity.keyring.export_public(identity.fingerprint))
            os.replace(tmp, key_file)
        for result in results.values():
            repo = self.layout.repositories[result.repository]
            source_repo = self.layout.repositories[repo.sources] if repo.sources else repo
            placed = []
            for f in result.files:
                target_repo = source_repo if f.nevra.arch == "src" else repo
                target = out / target_repo.path / f.path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f.path, target)
                placed.append(PlacedFile(target, f.nevra))
            result.files = placed
