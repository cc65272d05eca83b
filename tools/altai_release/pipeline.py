"""tools/build.py's core: package names -> sources resolved once -> SRPMs -> binary RPMs (mock or local
rpmbuild) -> signed and verified -> (with third-party imports) a new release tree, published atomically.
All or nothing: until every requested package has built, every package is signed and verified and the new
tree is complete, the published release does not change. Publishing is the last step that can fail."""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .buildcache import BuildCache, inputs_key, kept_results, record_builds
from .builders import choose_builder_kind, make_builder
from .errors import AltaiError, InputError, NoSpaceError, PublishError, ToolError
from .layout import PackageEntry, ReleaseLayout
from .manifest import Manifest
from .paths import DEFAULT_OUT, DEFAULT_STATE
from .release_outputs import check_base_url
from .release_policy import NewFile
from .release_store import ReleaseStore
from .release_tree import assemble_release
from .resign import resign_kept
from .results import PackageResult, PlacedFile
from .scheduler import run_all
from .signing import KeyResolver, SigningIdentity
from .sources import PackageSource, resolve_source
from .timing import step
from .verify import KeyDatabases

log = logging.getLogger(__name__)


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


def _no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _full(path: Path) -> bool:
    """Whether the filesystem of `path` has (almost) no room left: blocks or inodes."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW or (st.f_files > 0 and st.f_favail == 0)


FULL_BELOW = 1024 * 1024  # bytes free: what no build, signature or publish of ours fits in


def _counted(manifest: Manifest) -> str:
    binary = sum(e.arch != "src" for e in manifest.entries)
    sources = len(manifest.entries) - binary
    return f"{binary} package{'s' if binary != 1 else ''}, {sources} source package{'s' if sources != 1 else ''}"


class ReleaseBuild:
    def __init__(self, layout: ReleaseLayout, options: BuildOptions) -> None:
        check_base_url(options.base_url)
        self.layout = layout
        self.options = options
        self.keys = KeyResolver(
            options.state_dir, options.gnupghome, options.sign_key, options.require_key, options.passphrase_file
        )
        self.builder_kind = choose_builder_kind(options.builder)
        if self.builder_kind == "koji" and layout.koji is None:
            raise InputError(f"{layout.file}: --builder koji needs a [koji] table (profile, target, scratch)")
        self.store = ReleaseStore(options.out)
        self.cache = BuildCache(self.store.cache)
        self.manifest: Manifest | None = None

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
            except (ToolError, PublishError, OSError) as exc:
                # a full disk shows as whatever failed first (rpmsign, the rpmdb, rpmbuild, a write): say it;
                # a bad ref, spec or signature is what it says, whatever the disk
                if not (_no_space(exc) or _full(self.store.store)):
                    if isinstance(exc, OSError) and not exc.filename:
                        # a write that failed (EIO) without naming its file: name the tree it was writing
                        raise PublishError(
                            f"{self.store.store}: {exc.strerror or exc}; the published release did not change"
                        ) from exc
                    raise
                where = exc.filename if isinstance(exc, OSError) and exc.filename else self.store.store
                raise NoSpaceError(
                    f"{where}: No space left on device; the published release did not change (what failed: {exc})"
                ) from exc
            finally:
                shutil.rmtree(staging, ignore_errors=True)
                if self.keys.dev_used:
                    self.keys.dev.stop_agent()
                self.keys.forget_passphrases()

    def _prepare(self, entries: list[PackageEntry], staging: Path) -> _Run:
        identities = {e.name: self.keys.resolve(self.layout.key_for(e.repository)) for e in entries}
        self.keys.forget_passphrases()  # a passphrase an agent kept from before must not sign in this run
        for note in self.keys.notes:
            log.info(f"note: {note}")
        downloads, memo = self.store.store / "downloads", self.store.cache / "resolved"

        def resolve(name: str) -> PackageSource:
            with step("resolve source", name):
                entry = self.layout.packages[name]
                named = self.cache.named(name)
                try:
                    return resolve_source(entry, self.layout, staging / "sources", downloads, named, memo)
                except AltaiError as exc:
                    if str(exc).startswith(f"{name}:"):
                        raise
                    # the layout's key is what the user edits: name it (a copied layout's `git = ".."`)
                    key = f"packages.{name}.{'srpm' if entry.srpm is not None else 'git'}"
                    raise type(exc)(f"{name}: {key} in {self.layout.file}: {exc}") from exc

        # each resolution waits mostly on git: in parallel, as the builds are
        sources = run_all([e.name for e in entries], max(self.options.jobs, 8), resolve)
        # exported once: every package is verified against its key's public half
        by_key = {i.key_name: i for i in identities.values()}  # one export per key, not per package
        public_keys = {name: i.keyring.export_public(i.fingerprint) for name, i in by_key.items()}
        run = _Run(staging, entries, identities, public_keys, sources, {}, KeyDatabases(staging / "rpmdb"))
        with step("cache keys"):
            run.keys = {e.name: self._key(run, e.name, self.cache.named(e.name)) for e in entries}
        return run

    def _key(self, run: _Run, name: str, named: Sequence[str]) -> str:
        """The package's cache key, with the files its spec names (`named`) as inputs."""
        material = run.sources[name].material(named)
        fingerprint = run.identities[name].fingerprint
        return inputs_key(material, self.layout.packages[name], self.layout, self.builder_kind, fingerprint)

    def _run(self, run: _Run, complete: bool) -> list[PackageResult]:
        manifest, out = self.store.current_manifest(), self.store.out
        cached = {}
        if not self.options.rebuild:
            with step("kept results"):
                cached = kept_results(self.cache, run.entries, run.keys, manifest, run.identities, out)
            for name, result in cached.items():
                log.info(f"{name}: inputs unchanged, keeping {result.source.name}-{result.source.evr}")
        todo = [e for e in run.entries if e.name not in cached]
        built = self._build(run, todo) if todo else {}
        additions = [
            NewFile(
                f.path,
                self.layout.repository_for(r.repository, f.nevra.arch),
                r.name,
                r.signed_by.key_name,
                self.layout.packages[r.name].allow_downgrade_to,
                self.layout.packages[r.name].downgrade_reason,
                run.sources[r.name].provenance,
            )
            for r in built.values()
            for f in r.files
        ]
        replaced = set(built)
        if complete:
            if self.layout.upstreams:
                from .importer import import_upstreams  # only the release job imports

                additions += import_upstreams(self.layout, run.staging / "import")
            replaced |= {f"upstream:{name}" for name in self.layout.upstreams}
        kept = frozenset(cached)
        additions += resign_kept(
            manifest,
            self.store.current(),
            (lambda e: e.origin in kept) if complete else (lambda e: e.origin not in replaced),
            {i.key_name: i for i in run.identities.values()},
            run.public_keys,
            run.rpmdbs,
            run.staging / "resign",
        )
        with step("release tree and publish"):
            self._publish(run, additions, replaced, complete, kept, set(built))
        # the release is published: from here on nothing may turn the run into a failure
        assert self.manifest is not None
        record_builds(self.cache, built, self.manifest, lambda name, named: self._key(run, name, named))
        results = {**cached, **{name: self._placed(r) for name, r in built.items()}}
        return [results[e.name] for e in run.entries]

    def _build(self, run: _Run, todo: list[PackageEntry]) -> dict[str, PackageResult]:
        from .packagebuild import PackageBuild, build_packages, make_srpms  # only a run that builds

        sources = {e.name: run.sources[e.name] for e in todo}
        # --jobs bounds the builds; making an SRPM is light (a spec read and a tarball): one per core (up to 8)
        width = max(self.options.jobs, min(os.cpu_count() or 1, 8))
        srpms = make_srpms(sources, self.layout.macro_files, self.layout.sandbox, run.staging, width)
        builder = make_builder(self.builder_kind, self.layout, self.store.out, self.store.current(), run.staging)
        build_one = PackageBuild(builder, run.rpmdbs, run.staging, self.store.logdir, self.layout.target_rpm)
        entries = {e.name: e for e in todo}
        return build_packages(entries, srpms, run.identities, run.public_keys, build_one, self.options.jobs)

    def _publish(
        self,
        run: _Run,
        additions: list[NewFile],
        replaced: set[str],
        complete: bool,
        cached: frozenset[str],
        built: set[str],
    ) -> None:
        assembled = assemble_release(
            self.store,
            self.layout,
            additions,
            replaced,
            run.public_keys,
            self.options.base_url,
            complete,
            cached,
            {name: self.store.logs / name for name in built},
        )
        if assembled is None:
            self.manifest = self.store.current_manifest()
            log.info(f"{self.store.out}: nothing changed, the release stays as it is")
            return
        release_dir, self.manifest = assembled
        self.store.publish(release_dir)
        log.info(f"published {self.store.out} -> {release_dir.name} ({_counted(self.manifest)})")

    def _placed(self, result: PackageResult) -> PackageResult:
        """The result with its files where the release tree holds them."""
        placed = [
            PlacedFile(
                self.store.out
                / self.layout.repositories[self.layout.repository_for(result.repository, f.nevra.arch)].path
                / f.path.name,
                f.nevra,
            )
            for f in result.files
        ]
        return replace(result, files=placed)
