"""What one run of build.py knows about its packages before it builds: their signing identities and public
keys, where each comes from (resolved in parallel) and each package's build-cache key."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from altai_release.builders.scheduler import run_all
from altai_release.core.errors import AltaiError, InputError
from altai_release.core.hashing import file_sha256
from altai_release.core.timing import step
from altai_release.layout import PackageEntry, ReleaseLayout
from altai_release.release.publish.policy import NewFile
from altai_release.release.run.buildcache import BuildCache, inputs_key
from altai_release.release.run.results import PackageResult
from altai_release.rpm.manifest import Manifest
from altai_release.signing.assignment import KeyResolver, SigningIdentity
from altai_release.signing.signature_check import KeyDatabases
from altai_release.sources import PackageSource, resolve_source
from altai_release.specfile.rebuildspec import Rebuild

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """What one run knows about its packages, in the order it learns it."""

    layout: ReleaseLayout
    builder_kind: str
    staging: Path
    entries: list[PackageEntry]
    identities: dict[str, SigningIdentity]
    public_keys: dict[str, bytes]
    sources: dict[str, PackageSource]
    rpmdbs: KeyDatabases
    keys: dict[str, str] = field(default_factory=dict)  # package -> build-cache key

    def key(self, name: str, named: Sequence[str]) -> str:
        """The package's cache key, with the files its spec names (`named`) as inputs."""
        material = self.sources[name].material(named)
        fingerprint = self.identities[name].fingerprint
        return inputs_key(material, self.layout.packages[name], self.layout, self.builder_kind, fingerprint)

    def source_for(self, name: str, rebuild: Rebuild | None) -> PackageSource:
        """The package's source; for a dependent rebuilt for what changed, its copy whose SRPM says so."""
        source = self.sources[name]
        if rebuild is None:
            return source
        for_rebuild = getattr(source, "for_rebuild", None)
        if for_rebuild is None:
            raise InputError(
                f"{name}: {rebuild.summary}, but a package from a source RPM cannot take a rebuild's Release; "
                'give it a new Release upstream, or set the layout\'s [buildroot] rebuild = "local"'
            )
        return for_rebuild(rebuild)  # type: ignore[no-any-return]

    def _build_inputs(self) -> dict[str, str]:
        """The layout and macros files a build of this run used, by SHA-256: its provenance names these, not
        the files of a later run that keeps the package."""
        facts = {"layout_sha256": file_sha256(self.layout.file)}
        return facts | {f"macros:{self.layout.macro_name(p)}": file_sha256(p) for p in self.layout.macro_files}

    def additions(self, built: dict[str, PackageResult]) -> list[NewFile]:
        """The files of this run's builds, as the release policy takes them."""
        return [
            NewFile(
                f.path,
                self.layout.repository_for(r.repository, f.nevra.arch),
                r.name,
                r.signed_by.key_name,
                self.layout.packages[r.name].allow_downgrade_to,
                self.layout.packages[r.name].downgrade_reason,
                self.sources[r.name].provenance,
                (r.built_by | ({} if r.builder == "cached" else self._build_inputs())) or None,
                r.build_root or None,
                r.rebuilt_for,
            )
            for r in built.values()
            for f in r.files
        ]


def prepare_run(
    layout: ReleaseLayout,
    *,
    builder_kind: str,
    keys: KeyResolver,
    cache: BuildCache,
    entries: list[PackageEntry],
    staging: Path,
    store_dir: Path,
    width: int,
    base_url: str,
    current: Manifest | None,
    current_dir: Path | None = None,
    out: Path = Path("out"),
) -> RunState:
    identities = {e.name: keys.resolve(layout.key_for(e.repository)) for e in entries}
    keys.refuse_development_over_real(current, current_dir, out)
    from altai_release.signing import rotation

    if current is not None:
        rotation.refuse_undoing(rotation.load(store_dir), identities.values(), layout, keys.override, out)
    rotation.announce(identities.values(), layout, keys.override)
    keys.forget_passphrases()  # a passphrase an agent kept from before must not sign in this run
    for note in keys.notes:  # the development key is a warning: -q shows it
        log.warning(note)
    downloads, memo = store_dir / "downloads", store_dir / "cache" / "resolved"
    # exported once per key, not per package: every package is verified against its key's public half
    by_key = {i.key_name: i for i in identities.values()}
    public_keys = {name: i.keyring.export_public(i.fingerprint) for name, i in by_key.items()}

    def resolve(name: str) -> PackageSource:
        with step("resolve source", name):
            entry = layout.packages[name]
            try:
                return resolve_source(
                    entry,
                    layout,
                    staging / "sources",
                    downloads,
                    cache.named(name),
                    memo,
                    (base_url, public_keys, current),
                )
            except AltaiError as exc:
                if str(exc).startswith(f"{name}:"):
                    raise
                # the layout's key is what the user edits: name it (a copied layout's `git = ".."`)
                key = f"packages.{name}.{'srpm' if entry.srpm is not None else 'git'}"
                raise type(exc)(f"{name}: {key} in {layout.file}: {exc}") from exc

    # each resolution waits mostly on git: in parallel, as the builds are
    sources = run_all([e.name for e in entries], width, resolve)
    rpmdbs = KeyDatabases(staging / "rpmdb")
    run = RunState(layout, builder_kind, staging, entries, identities, public_keys, sources, rpmdbs)
    with step("cache keys"):
        run.keys = {e.name: run.key(e.name, cache.named(e.name)) for e in entries}
    return run
