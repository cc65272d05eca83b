"""tools/build.py's core: package names -> sources resolved once -> SRPMs -> binary RPMs (mock or local
rpmbuild) -> signed and verified -> (with third-party imports) a new release tree, published atomically.
All or nothing: until every requested package has built, every package is signed and verified and the new
tree is complete, the published release does not change. Publishing is the last step that can fail."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from altai_release.builders import base_digest, choose_builder_kind, make_builder
from altai_release.core.diskfull import as_disk_failure
from altai_release.core.errors import InputError, PublishError, ToolError
from altai_release.core.timing import step
from altai_release.layout import PackageEntry, ReleaseLayout
from altai_release.release.publish.outputs import check_base_url
from altai_release.release.publish.resign import resign_kept
from altai_release.release.publish.store import ReleaseStore, remove_staging
from altai_release.release.publish.tree import publish_next
from altai_release.release.run.buildcache import BuildCache, kept_results, published_results, record_builds
from altai_release.release.run.results import PackageResult
from altai_release.release.run.runstate import RunState, prepare_run
from altai_release.rpm.manifest import Manifest
from altai_release.signing import rotation
from altai_release.signing.assignment import KeyResolver, SigningIdentity
from altai_release.signing.trust import TrustSources
from altai_release.specfile.rebuildspec import Rebuild

if TYPE_CHECKING:
    from altai_release.sources import PackageSource
    from altai_release.sources.srpm_from_git import SrpmResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOptions:
    out: Path
    state_dir: Path
    builder: str = "auto"
    jobs: int = os.cpu_count() or 1
    sign_key: str | None = None
    require_key: bool = False
    passphrase_file: Path | None = None
    gnupghome: Path | None = None
    base_url: str | None = None  # of altai.repo; default file:// + OUT
    wait_seconds: float = 0.0  # for another run publishing to the same OUT
    rebuild: bool = False  # ignore the build cache
    # checks the next release's complete tree before it is published (acceptance, verification): raises, or
    # says what it checked
    gate: Callable[[Path, TrustSources], list[str]] | None = None


def seal_checksums(signer: SigningIdentity, release_dir: Path) -> None:
    """SHA256SUMS of every file of the tree, signed by the metadata key: the last file a run writes."""
    from altai_release.release.publish.checksums import write_checksums

    signer.keyring.detach_sign(signer.fingerprint, write_checksums(release_dir), signer.passphrase_file)


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
        self._forced: set[str] = set()  # the packages --rebuild builds whatever their inputs
        self._reach_only: set[str] = set()  # not named: taken in for what the named ones' change reaches

    def run(self, names: Sequence[str], complete: bool = False) -> list[PackageResult]:
        """Build `names`; with `complete` (the release job), also re-import every upstream pin, and the new
        release holds exactly what this run built and imported."""
        entries = [self.layout.package(n) for n in dict.fromkeys(names)]
        if not entries and not complete:
            raise InputError("no package to build: name packages or use --all")
        generated = [e for e in self.layout.packages.values() if e.generated and e not in entries]
        entries += generated  # the release package goes with every run: it describes the release
        from altai_release.release.run.reach import dependents

        # what the named packages' change may reach: a build against them is rebuilt, never left behind
        # (--rebuild forces the named packages only)
        reach_only = [
            self.layout.packages[n]
            for n in dependents(self.layout, self.store.current_manifest())
            if self.layout.packages[n] not in entries
        ]
        self._forced = {e.name for e in entries} if self.options.rebuild else set()
        self._reach_only = {e.name for e in reach_only}
        entries += reach_only
        with self.store.lock(self.options.wait_seconds):
            staging = self.store.staging()
            # the run's temporary files (spec reads, gpg's throwaway homes, the gate's roots) in its staging
            # area too: a run killed outright leaves them where the next run sweeps, never in TMPDIR
            (staging / "tmp").mkdir()
            before, tempfile.tempdir = tempfile.tempdir, str(staging / "tmp")
            try:
                run = prepare_run(
                    self.layout,
                    builder_kind=self.builder_kind,
                    keys=self.keys,
                    cache=self.cache,
                    entries=entries,
                    staging=staging,
                    store_dir=self.store.store,
                    width=max(self.options.jobs, 8),
                    base_url=self.options.base_url or self.store.out.absolute().as_uri(),
                    current=self.store.current_manifest(),
                    current_dir=self.store.current(),
                    out=self.store.out,
                )
                return self._run(run, complete)
            except (ToolError, PublishError, OSError) as exc:
                instead = as_disk_failure(exc, self.store.store)
                if instead is None:
                    raise
                raise instead from exc
            finally:
                tempfile.tempdir = before
                remove_staging(staging)
                if self.keys.dev_used:
                    self.keys.dev.stop_agent()
                self.keys.forget_passphrases()

    def _run(self, run: RunState, complete: bool) -> list[PackageResult]:
        manifest, out = self.store.current_manifest(), self.store.out
        cached = {}
        keepable = [e for e in run.entries if e.name not in self._forced]
        if keepable:
            with step("kept results"):
                cached = kept_results(self.cache, keepable, run.keys, manifest, run.identities, out)
            for name, result in cached.items():
                log.info("%s: inputs unchanged, keeping %s-%s", name, result.source.name, result.source.evr)
        if manifest is not None:  # not named: as published, whatever their inputs are now
            missed = [e for e in run.entries if e.name in self._reach_only and e.name not in cached]
            cached |= published_results(missed, manifest, run.identities, out)
        todo = [e for e in run.entries if e.name not in cached]
        built = self._build(run, todo) if todo else {}
        from altai_release.release.run.reach import rebuild_reached

        base = base_digest(self.builder_kind, self.layout, self.options.state_dir)
        again = lambda todo, why: self._build(run, todo, why)  # noqa: E731 - a round of rebuilds
        built = rebuild_reached(self.layout, again, run.staging / "run-repo", built, cached, manifest, base)
        additions = run.additions(built)
        replaced = set(built)
        if complete:
            if self.layout.upstreams:
                from altai_release.release.run.upstream_import import import_upstreams  # only the release job imports

                additions += import_upstreams(self.layout, run.staging / "import")
            replaced |= {f"upstream:{name}" for name in self.layout.upstreams}
        kept = frozenset(cached)
        additions += resign_kept(
            manifest=manifest,
            release_dir=self.store.current(),
            kept=(lambda e: e.origin in kept) if complete else (lambda e: e.origin not in replaced),
            identities={i.key_name: i for i in run.identities.values()},
            public_keys=run.public_keys,
            databases=run.rpmdbs,
            workdir=run.staging / "resign",
        )
        with step("release tree and publish"):
            self.manifest = publish_next(
                self.store,
                self.layout,
                gate=self._seal(run),
                reseal=lambda release_dir: seal_checksums(self.keys.resolve(self.layout.metadata_signer), release_dir),
                additions=additions,
                replaced_origins=replaced,
                public_keys=run.public_keys,
                base_url=self.options.base_url,
                complete=complete,
                kept_origins=kept,
                built_logs={name: self.store.logs / name for name in built},
            )
        # the release is published: from here on nothing may turn the run into a failure
        assert self.manifest is not None
        record_builds(self.cache, built, self.manifest, run.key)
        rotation.save(self.store.store, run.identities.values(), self.layout, self.options.sign_key)
        results = {**cached, **{name: r.placed(self.store.out, self.layout) for name, r in built.items()}}
        return [results[e.name] for e in run.entries]

    def _seal(self, run: RunState) -> Callable[[Path, Manifest], list[str]]:
        """What is done to the next release's tree before it is published: every repository's repomd.xml
        signed by the metadata key (yum's repo_gpgcheck), a provenance statement of each binary we built
        signed by it too, SHA256SUMS of every file signed last, then the options' gate, which trusts the keys
        this run signs with."""
        signer = self.keys.resolve(self.layout.metadata_signer)
        if signer.key_name not in run.public_keys:
            run.public_keys[signer.key_name] = signer.keyring.export_public(signer.fingerprint)

        def seal(release_dir: Path, manifest: Manifest) -> list[str]:
            from altai_release.release.attest.provenance import write_provenance

            for repo in self.layout.repositories.values():
                repomd = release_dir / repo.path / "repodata" / "repomd.xml"
                if repomd.is_file():
                    signer.keyring.detach_sign(signer.fingerprint, repomd, signer.passphrase_file)
            write_provenance(release_dir, self.layout, manifest, signer)  # the manifest as written, not read back
            seal_checksums(signer, release_dir)
            if self.options.gate is None:
                return []
            identities = {i.key_name: i for i in run.identities.values()}
            run_keys = {n: (i.fingerprint, run.public_keys[n]) for n, i in identities.items() if n in run.public_keys}
            trust = TrustSources(gnupghome=self.options.gnupghome, state_dir=self.options.state_dir, run_keys=run_keys)
            return self.options.gate(release_dir, trust)

        return seal

    def _build(
        self, run: RunState, todo: list[PackageEntry], rebuilds: Mapping[str, Rebuild] | None = None
    ) -> dict[str, PackageResult]:
        from altai_release.release.run.packagebuild import (  # a build run's
            PackageBuild,
            build_packages,
            make_srpms,
            renumber_release_package,
        )

        sources = {e.name: run.source_for(e.name, (rebuilds or {}).get(e.name)) for e in todo}
        # --jobs bounds the builds; making an SRPM is light (a spec read and a tarball): one per core (up to 8)
        width = max(self.options.jobs, min(os.cpu_count() or 1, 8))
        srpms = make_srpms(sources, self.layout.macro_files, self.layout.sandbox, run.staging, width)
        builder = make_builder(
            self.builder_kind, self.layout, self.store.out, self.store.current(), run.staging, self.options.state_dir
        )
        renumber_release_package(sources, srpms, builder, self.layout, run.staging)  # before anything is built
        current = self.store.current_manifest()
        from altai_release.release.run.reach import keep_above_rebuilds

        def remake(source: PackageSource) -> SrpmResult:
            shutil.rmtree(run.staging / "srpm" / source.name, ignore_errors=True)
            return source.make_srpm(run.staging / "srpm" / source.name, self.layout.macro_files, self.layout.sandbox)

        above = keep_above_rebuilds(sources, srpms, current, remake)
        log.info("building with %s", builder.describe())
        published = {e.name: e.origin for e in current.entries} if current is not None else {}
        build_one = PackageBuild(builder, run.rpmdbs, run.staging, self.store.logdir, self.layout.target_rpm, published)
        entries = {e.name: e for e in todo}
        results = build_packages(entries, srpms, run.identities, run.public_keys, build_one, self.options.jobs)
        for name, rebuild in (rebuilds or {}).items():
            reasons = f"{rebuild.summary} ({'; '.join(rebuild.reasons)})"
            results[name] = replace(results[name], rebuilt_for=rebuild.summary, notes=[*results[name].notes, reasons])
        for name, bump in above.items():
            results[name] = replace(results[name], notes=[*results[name].notes, bump.summary])
        return results
