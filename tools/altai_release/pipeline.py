"""tools/build.py's core: package names -> SRPMs -> binary RPMs (mock or local rpmbuild) -> signed and
verified -> (with third-party imports) a new release tree, published atomically. All or nothing: until
every requested package has built, every package is signed and verified and the new tree is complete,
the published release does not change."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from .buildcache import BuildCache, inputs_key
from .builders import Builder, BuildJob, BuildOutput, LocalBuilder, MockBuilder, choose_builder_kind
from .builders.mock import MockRepo
from .errors import AltaiError, BuildError, InputError
from .importer import Importer
from .layout import PROJECT_ROOT, PackageEntry, ReleaseLayout
from .manifest import Manifest
from .nevra import Nevra
from .packages import read_nevra
from .release_tree import NewFile, PublishError, ReleaseTree, check_base_url
from .resign import resign, stale_entries
from .signing import KeyDatabases, KeyResolver, SigningIdentity, sign_packages, verify_packages
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
    base_url: str | None = None  # of altai.repo; default file:// + OUT
    wait_seconds: float = 0.0  # for another run publishing to the same OUT
    rebuild: bool = False  # ignore the build cache


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
    named_files: tuple[str, ...] = ()  # what the spec named besides the tree: part of the cache key

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
        check_base_url(options.base_url)
        self.layout = layout
        self.options = options
        self._say = progress or (lambda _msg: None)
        self._progress_lock = threading.Lock()
        self.keys = KeyResolver(options.state_dir, options.gnupghome, options.sign_key, options.require_key,
                                options.passphrase_file)  # fmt: skip
        self.builder_kind = choose_builder_kind(options.builder)
        self.tree = ReleaseTree(options.out)
        self.manifest: Manifest | None = None
        self._started = 0
        self._started_lock = threading.Lock()

    def progress(self, message: str) -> None:
        """Report one line; build threads report at the same time, and a line must not mix with another."""
        with self._progress_lock:
            self._say(message)

    def _builder(self) -> Builder:
        if self.builder_kind == "mock":
            current = self.tree.current()
            repos = [MockRepo(f"altai-{name}", f"{self.layout.name} {name}", (self.tree.out / repo.path).as_uri())
                     for name, repo in self.layout.repositories.items()
                     if repo.content != "sources" and current and (current / repo.path / "repodata").is_dir()]
            return MockBuilder(self.layout.templates, f"{self.layout.name} {self.layout.version}", repos)
        return LocalBuilder(self.layout.macro_files)

    def run(self, names: Sequence[str], complete: bool = False) -> list[PackageResult]:
        """Build `names`; with `complete` (the release job), also re-import every upstream pin, and the new
        release holds exactly what this run built and imported."""
        entries = [self.layout.package(n) for n in dict.fromkeys(names)]
        if not entries and not complete:
            raise InputError("no package to build: name packages or use --all")
        with self.tree.lock(self.options.wait_seconds):
            staging = self.tree.staging()
            try:
                return self._run(entries, complete, staging)
            except OSError as exc:
                if exc.filename:
                    raise
                # a write that failed (ENOSPC, EIO) without naming its file: name the tree it was writing
                raise PublishError(f"{self.tree.store}: {exc.strerror or exc}; the published release "
                                   "did not change") from exc  # fmt: skip
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def _run(self, entries: list[PackageEntry], complete: bool, staging: Path) -> list[PackageResult]:
        self.rpmdbs = KeyDatabases(staging / "rpmdb")
        identities = {e.name: self.keys.resolve(self.layout.key_for(e.repository)) for e in entries}
        for note in self.keys.notes:
            self.progress(f"note: {note}")
        cache = BuildCache(self.tree.cache)
        named = {e.name: cache.named(e.name) for e in entries}
        keys = {e.name: inputs_key(e, self.layout, self.builder_kind, identities[e.name].fingerprint, named[e.name])
                for e in entries}  # fmt: skip
        cached = {} if self.options.rebuild else self._cached(entries, keys, cache, identities)
        # exported once: every package is verified against its key's public half
        public_keys = {i.key_name: i.keyring.export_public(i.fingerprint) for i in identities.values()}
        todo = [e for e in entries if e.name not in cached]
        results: dict[str, PackageResult] = {}
        if todo:
            srpms = self._make_srpms(todo, staging)
            deps = build_order(srpms)
            results = self._build_all(todo, srpms, deps, self._builder(), identities, public_keys, staging)
        additions = [NewFile(f.path, self._repository_for(r.repository, f.nevra), r.name, r.signed_by.key_name,
                             self.layout.packages[r.name].allow_downgrade_to)
                     for r in results.values() for f in r.files]  # fmt: skip
        replaced = set(results)
        if complete:
            for upstream in self.layout.upstreams.values():
                self.progress(f"importing {', '.join(map(str, upstream.pins))} from {upstream.url}")
                key = self.layout.keys[upstream.key]
                assert key.file is not None  # the layout checked it
                additions += Importer(upstream, key.file.read_bytes(), staging / "import" / upstream.name).fetch()
                replaced.add(f"upstream:{upstream.name}")
        additions += self._resign_kept(complete, replaced, frozenset(cached), identities, public_keys, staging)
        assembled = self.tree.assemble(self.layout, additions, replaced, public_keys, self.options.base_url,
                                       complete=complete, kept_origins=frozenset(cached))  # fmt: skip
        if assembled is None:
            self.manifest = self.tree.current_manifest()
            self.progress(f"{self.tree.out}: nothing changed, the release stays as it is")
        else:
            release_dir, self.manifest = assembled
            self.tree.publish(release_dir)
            self.progress(f"published {self.tree.out} -> {release_dir.name} ({len(self.manifest.entries)} packages)")
        assert self.manifest is not None
        # the release is published: from here on nothing may turn the run into a failure
        for result in results.values():
            paths = [e.path for e in self.manifest.entries if e.origin == result.name]
            try:
                cache_key = keys[result.name][0]
                if list(result.named_files) != named[result.name]:  # the spec names other files now
                    entry = self.layout.packages[result.name]
                    cache_key = inputs_key(entry, self.layout, self.builder_kind, result.signed_by.fingerprint,
                                           result.named_files)[0]  # fmt: skip
                cache.put(result.name, cache_key, result.commit, paths, result.named_files)
            except (OSError, AltaiError) as exc:
                self.progress(f"warning: {result.name}: cannot record the build cache in {cache.directory} "
                              f"({getattr(exc, 'strerror', None) or exc}); the next run builds it again")  # fmt: skip
            result.files = [PlacedFile(self.tree.out / self.layout.repositories[self._repository_for(
                result.repository, f.nevra)].path / f.path.name, f.nevra) for f in result.files]
        results.update(cached)
        return [results[e.name] for e in entries]

    def _resign_kept(self, complete: bool, replaced: set[str], cached: frozenset[str],
                     identities: dict[str, SigningIdentity], public_keys: dict[str, bytes],
                     staging: Path) -> list[NewFile]:  # fmt: skip
        """Kept packages signed by another key than the one their layout key resolves to in this run."""
        manifest, current = self.tree.current_manifest(), self.tree.current()
        if manifest is None or current is None:
            return []
        kept = [e for e in manifest.entries if (e.origin in cached if complete else e.origin not in replaced)]
        by_key = {i.key_name: i for i in identities.values()}
        stale = stale_entries(kept, by_key)
        if not stale:
            return []
        return resign(stale, current, by_key, public_keys, self.rpmdbs, staging / "resign", self.progress)

    def _cached(self, entries: list[PackageEntry], keys: dict[str, tuple[str, str]], cache: BuildCache,
                identities: dict[str, SigningIdentity]) -> dict[str, PackageResult]:  # fmt: skip
        """Packages whose inputs match their last published build, with those files still published."""
        manifest = self.tree.current_manifest()
        published = {e.path: e for e in manifest.entries} if manifest else {}
        hits: dict[str, PackageResult] = {}
        for entry in entries:
            record = cache.get(entry.name)
            if record is None or record.get("key") != keys[entry.name][0]:
                continue
            paths = record.get("paths")
            if not isinstance(paths, list) or not paths:
                continue
            found = [published.get(p) for p in paths]
            if any(e is None or e.origin != entry.name for e in found):
                continue
            files = [e for e in found if e is not None]
            source = next((e.nevra for e in files if e.arch == "src"), files[0].nevra)
            hits[entry.name] = PackageResult(
                entry.name, entry.repository, source, str(record.get("commit", "")), "cached", 0.0,
                identities[entry.name], [PlacedFile(self.tree.out / e.path, e.nevra) for e in files],
                ["inputs unchanged since the published build: kept its signed files"],
            )  # fmt: skip
            self.progress(f"{entry.name}: inputs unchanged, keeping {source.name}-{source.evr}")
        return hits

    def _repository_for(self, repository: str, nevra: Nevra) -> str:
        """Where a file of a package built for `repository` goes: its SRPM to the sources repository."""
        sources = self.layout.repositories[repository].sources
        return sources if nevra.arch == "src" and sources else repository

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
                   builder: Builder, identities: dict[str, SigningIdentity], public_keys: dict[str, bytes],
                   staging: Path) -> dict[str, PackageResult]:  # fmt: skip
        by_name = {e.name: e for e in entries}
        done: dict[str, PackageResult] = {}
        pending = set(by_name)
        running: dict[Future[PackageResult], str] = {}
        total = len(entries)
        self._started = 0
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
            while pending or running:
                ready = sorted(n for n in pending if deps[n] <= set(done))
                for name in ready:
                    pending.discard(name)
                    identity = identities[name]
                    future = pool.submit(self._build_one, by_name[name], srpms[name], builder, identity,
                                         public_keys[identity.key_name], staging, total)  # fmt: skip
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
        return done

    def _build_one(self, entry: PackageEntry, srpm: SrpmResult, builder: Builder, identity: SigningIdentity,
                   public_key: bytes, staging: Path, total: int) -> PackageResult:  # fmt: skip
        with self._started_lock:
            self._started += 1
            self.progress(f"[{self._started}/{total}] {entry.name}: building with {builder.name}")
        start = time.monotonic()
        workdir = staging / "build" / entry.name
        workdir.mkdir(parents=True)
        job = BuildJob(
            package=entry, srpm=srpm.srpm, workdir=workdir, logdir=self.tree.logdir(entry.name),
            source_date_epoch=srpm.commit_time, unique=f"{entry.name}-{os.getpid()}-{threading.get_ident()}",
            build_requires=tuple(sorted({br.name for br in srpm.spec.build_requires})),
        )  # fmt: skip
        output: BuildOutput = builder.build(job)
        signed_dir = staging / "signed" / entry.name
        signed_dir.mkdir(parents=True)
        files = [Path(shutil.copy2(p, signed_dir / p.name)) for p in (*output.rpms, srpm.srpm)]
        try:
            sign_packages(identity, files)
            verify_packages(self.rpmdbs, public_key, files)
        except AltaiError as exc:
            raise BuildError(f"{entry.name}: signing failed: {exc}") from exc
        result = PackageResult(entry.name, entry.repository, srpm.nevra, srpm.commit, builder.name,
                               time.monotonic() - start, identity, notes=list(output.notes),
                               named_files=srpm.named_files)  # fmt: skip
        result.files = [PlacedFile(f, read_nevra(f)) for f in files]
        self.progress(f"{entry.name}: built and signed in {result.seconds:.1f}s")
        return result
