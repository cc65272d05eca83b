"""tools/build.py's core: package names -> sources resolved once -> SRPMs -> binary RPMs (mock or local
rpmbuild) -> signed and verified -> (with third-party imports) a new release tree, published atomically.
All or nothing: until every requested package has built, every package is signed and verified and the new
tree is complete, the published release does not change. Publishing is the last step that can fail."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .buildcache import BuildCache, inputs_key
from .builders import choose_builder_kind, make_builder
from .errors import AltaiError, InputError, PublishError
from .layout import PROJECT_ROOT, PackageEntry, ReleaseLayout
from .manifest import Manifest
from .nevra import Nevra
from .packagebuild import PackageBuild
from .release_outputs import check_base_url
from .release_policy import NewFile
from .release_store import ReleaseStore
from .release_tree import assemble_release
from .resign import resign, stale_entries
from .results import PackageResult, PlacedFile
from .scheduler import build_order, run_all, run_in_order
from .signing import KeyDatabases, KeyResolver, SigningIdentity
from .sources import PackageSource, resolve_source
from .srpm import SrpmResult

DEFAULT_OUT = PROJECT_ROOT / "out"
DEFAULT_STATE = PROJECT_ROOT / ".state"

Progress = Callable[[str], None]


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


@dataclass
class _Run:
    """What one run knows about its packages, in the order it learns it."""

    staging: Path
    entries: list[PackageEntry]
    identities: dict[str, SigningIdentity]
    public_keys: dict[str, bytes]
    sources: dict[str, PackageSource]
    keys: dict[str, str]  # package -> build-cache key
    rpmdbs: KeyDatabases


class ReleaseBuild:
    def __init__(self, layout: ReleaseLayout, options: BuildOptions, progress: Progress | None = None) -> None:
        check_base_url(options.base_url)
        self.layout = layout
        self.options = options
        self._say = progress or (lambda _msg: None)
        self._progress_lock = threading.Lock()
        self.keys = KeyResolver(
            options.state_dir, options.gnupghome, options.sign_key, options.require_key, options.passphrase_file
        )
        self.builder_kind = choose_builder_kind(options.builder)
        self.store = ReleaseStore(options.out)
        self.cache = BuildCache(self.store.cache)
        self.manifest: Manifest | None = None

    def progress(self, message: str) -> None:
        """Report one line; build threads report at the same time, and a line must not mix with another."""
        with self._progress_lock:
            self._say(message)

    def run(self, names: Sequence[str], complete: bool = False) -> list[PackageResult]:
        """Build `names`; with `complete` (the release job), also re-import every upstream pin, and the new
        release holds exactly what this run built and imported."""
        entries = [self.layout.package(n) for n in dict.fromkeys(names)]
        if not entries and not complete:
            raise InputError("no package to build: name packages or use --all")
        with self.store.lock(self.options.wait_seconds):
            staging = self.store.staging()
            try:
                return self._run(self._prepare(entries, staging), complete)
            except OSError as exc:
                if exc.filename:
                    raise
                # a write that failed (ENOSPC, EIO) without naming its file: name the tree it was writing
                raise PublishError(
                    f"{self.store.store}: {exc.strerror or exc}; the published release did not change"
                ) from exc
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def _prepare(self, entries: list[PackageEntry], staging: Path) -> _Run:
        identities = {e.name: self.keys.resolve(self.layout.key_for(e.repository)) for e in entries}
        for note in self.keys.notes:
            self.progress(f"note: {note}")
        sources = {e.name: resolve_source(e, staging / "sources", self.cache.named(e.name)) for e in entries}
        keys = {e.name: self._key(sources[e.name], e, identities[e.name], self.cache.named(e.name)) for e in entries}
        # exported once: every package is verified against its key's public half
        public_keys = {i.key_name: i.keyring.export_public(i.fingerprint) for i in identities.values()}
        return _Run(staging, entries, identities, public_keys, sources, keys, KeyDatabases(staging / "rpmdb"))

    def _key(self, source: PackageSource, entry: PackageEntry, identity: SigningIdentity, named: Sequence[str]) -> str:
        return inputs_key(source.material(named), entry, self.layout, self.builder_kind, identity.fingerprint)

    def _run(self, run: _Run, complete: bool) -> list[PackageResult]:
        cached = {} if self.options.rebuild else self._cached(run)
        todo = [e for e in run.entries if e.name not in cached]
        built = self._build(run, todo) if todo else {}
        additions = [
            NewFile(
                f.path,
                self._repository_for(r.repository, f.nevra),
                r.name,
                r.signed_by.key_name,
                self.layout.packages[r.name].allow_downgrade_to,
            )
            for r in built.values()
            for f in r.files
        ]
        replaced = set(built)
        if complete:
            additions += self._import_upstreams(run.staging, replaced)
        additions += self._resign_kept(run, complete, replaced, frozenset(cached))
        self._publish(run, additions, replaced, complete, frozenset(cached))
        # the release is published: from here on nothing may turn the run into a failure
        self._record_cache(run, built)
        results = {**cached, **{name: self._placed(r) for name, r in built.items()}}
        return [results[e.name] for e in run.entries]

    def _build(self, run: _Run, todo: list[PackageEntry]) -> dict[str, PackageResult]:
        srpms = run_all([e.name for e in todo], self.options.jobs, lambda name: self._make_srpm(run, name))
        deps = build_order(
            {n: (*r.spec.packages, *r.spec.provides) for n, r in srpms.items()},
            {n: [br.name for br in r.spec.build_requires] for n, r in srpms.items()},
        )
        builder = make_builder(self.builder_kind, self.layout, self.store.out, self.store.current())
        build_one = PackageBuild(builder, run.rpmdbs, run.staging, self.store.logdir, self.progress)
        started = iter(range(1, len(todo) + 1))
        started_lock = threading.Lock()

        def work(name: str) -> PackageResult:
            with started_lock:
                self.progress(f"[{next(started)}/{len(todo)}] {name}: building with {builder.name}")
            identity = run.identities[name]
            unique = f"{name}-{os.getpid()}-{threading.get_ident()}"
            return build_one(
                self.layout.packages[name], srpms[name], identity, run.public_keys[identity.key_name], unique
            )

        return run_in_order(deps, self.options.jobs, work)

    def _make_srpm(self, run: _Run, name: str) -> SrpmResult:
        source = run.sources[name]
        self.progress(f"{name}: making the SRPM from {source.description}")
        try:
            return source.make_srpm(
                run.staging / "srpm" / name,
                self.layout.macro_files,
                lambda msg: self.progress(f"warning: {name}: {msg}"),
            )
        except AltaiError as exc:
            raise type(exc)(f"{name}: making the SRPM failed: {exc}") from exc

    def _import_upstreams(self, staging: Path, replaced: set[str]) -> list[NewFile]:
        from .importer import Importer  # only the release job imports

        additions: list[NewFile] = []
        for upstream in self.layout.upstreams.values():
            self.progress(f"importing {', '.join(map(str, upstream.pins))} from {upstream.url}")
            key = self.layout.keys[upstream.key]
            assert key.file is not None  # the layout checked it
            additions += Importer(upstream, key.file.read_bytes(), staging / "import" / upstream.name).fetch()
            replaced.add(f"upstream:{upstream.name}")
        return additions

    def _resign_kept(self, run: _Run, complete: bool, replaced: set[str], cached: frozenset[str]) -> list[NewFile]:
        """Kept packages signed by another key than the one their layout key resolves to in this run."""
        manifest, current = self.store.current_manifest(), self.store.current()
        if manifest is None or current is None:
            return []
        kept = [e for e in manifest.entries if (e.origin in cached if complete else e.origin not in replaced)]
        by_key = {i.key_name: i for i in run.identities.values()}
        stale = stale_entries(kept, by_key)
        if not stale:
            return []
        return resign(stale, current, by_key, run.public_keys, run.rpmdbs, run.staging / "resign", self.progress)

    def _publish(
        self, run: _Run, additions: list[NewFile], replaced: set[str], complete: bool, cached: frozenset[str]
    ) -> None:
        assembled = assemble_release(
            self.store, self.layout, additions, replaced, run.public_keys, self.options.base_url, complete, cached
        )
        if assembled is None:
            self.manifest = self.store.current_manifest()
            self.progress(f"{self.store.out}: nothing changed, the release stays as it is")
            return
        release_dir, self.manifest = assembled
        self.store.publish(release_dir)
        self.progress(f"published {self.store.out} -> {release_dir.name} ({len(self.manifest.entries)} packages)")

    def _record_cache(self, run: _Run, built: dict[str, PackageResult]) -> None:
        """The cache records of what was built; a failure here is a warning: the release is published."""
        assert self.manifest is not None
        for name, result in built.items():
            paths = [e.path for e in self.manifest.entries if e.origin == name]
            named = self.cache.named(name)
            try:
                key = run.keys[name]
                if list(result.named_files) != named:  # the spec names other files now
                    key = self._key(run.sources[name], self.layout.packages[name], result.signed_by,
                                    result.named_files)  # fmt: skip
                self.cache.put(name, key, result.commit, paths, result.named_files)
            except (OSError, AltaiError) as exc:
                reason = getattr(exc, "strerror", None) or exc
                self.progress(
                    f"warning: {name}: cannot record the build cache in {self.cache.directory} ({reason}); "
                    "the next run builds it again"
                )

    def _placed(self, result: PackageResult) -> PackageResult:
        """The result with its files where the release tree holds them."""
        placed = [
            PlacedFile(self.store.out / self.layout.repositories[self._repository_for(result.repository, f.nevra)].path
                       / f.path.name, f.nevra)  # fmt: skip
            for f in result.files
        ]
        return replace(result, files=placed)

    def _cached(self, run: _Run) -> dict[str, PackageResult]:
        """Packages whose inputs match their last published build, with those files still published."""
        manifest = self.store.current_manifest()
        hits: dict[str, PackageResult] = {}
        for entry in run.entries:
            files = self.cache.published_files(entry.name, run.keys[entry.name], manifest)
            if files is None:
                continue
            source = next((e.nevra for e in files if e.arch == "src"), files[0].nevra)
            hits[entry.name] = PackageResult(
                entry.name,
                entry.repository,
                source,
                self.cache.commit(entry.name),
                "cached",
                0.0,
                run.identities[entry.name],
                [PlacedFile(self.store.out / e.path, e.nevra) for e in files],
                ["inputs unchanged since the published build: kept its signed files"],
            )
            self.progress(f"{entry.name}: inputs unchanged, keeping {source.name}-{source.evr}")
        return hits

    def _repository_for(self, repository: str, nevra: Nevra) -> str:
        """Where a file of a package built for `repository` goes: its SRPM to the sources repository."""
        sources = self.layout.repositories[repository].sources
        return sources if nevra.arch == "src" and sources else repository
