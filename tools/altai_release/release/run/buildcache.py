"""Incremental builds: the content hash of everything a package's build depends on.

A package whose key did not change since its files were published keeps those signed files; nothing is
packed, built or signed again. The key covers exactly what the package is made of, at the ref: the git
tree of its directory, its spec file, and the files that spec named when it was last built (extra sources,
patches: as long as the spec is the same, it names the same files); then the package's own last change
time (its SOURCE_DATE_EPOCH), the dist, the builder and its configuration, the layout's macro files and
the signing key. Another spec or file beside the spec is not an input."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from altai_release.core.errors import AltaiError
from altai_release.core.hashing import bytes_sha256, file_sha256
from altai_release.layout import PackageEntry, ReleaseLayout
from altai_release.release.run.results import PackageResult, PlacedFile
from altai_release.rpm.manifest import Manifest, ManifestEntry
from altai_release.signing.assignment import SigningIdentity

log = logging.getLogger(__name__)

CACHE_FORMAT = 3


def inputs_key(
    material: Mapping[str, object], entry: PackageEntry, layout: ReleaseLayout, builder: str, fingerprint: str
) -> str:
    """The cache key of a package: what its source says it is made of, and how it is built and signed."""
    mock = [entry.mock_chroot, file_sha256(layout.templates / "mock.cfg.j2")] if builder == "mock" else None
    # a koji build's root is the target's build tag on that hub: another target or hub is another build
    koji = [layout.koji.profile, layout.koji.target, layout.koji.scratch] if builder == "koji" and layout.koji else None
    everything = {
        "format": CACHE_FORMAT,
        "source": material,
        "dist": entry.dist,
        "builder": builder,
        "mock": mock,
        **({"koji": koji} if koji else {}),  # absent otherwise: the keys of other builders' builds stay
        "macros": [file_sha256(m) for m in layout.macro_files],
        "key": fingerprint,
    }
    return bytes_sha256(json.dumps(everything, sort_keys=True).encode())


class BuildCache:
    """OUT.store/cache/<package>.json: the key of the last published build and its release paths."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, package: str) -> dict[str, object] | None:
        try:
            data: dict[str, object] = json.loads((self.directory / f"{package}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if data.get("format") == CACHE_FORMAT else None

    def published_files(self, package: str, key: str, manifest: Manifest | None) -> list[ManifestEntry] | None:
        """The package's files in the published release when its last recorded build had this key and every
        one of them is still published as its own; else None (it must be built)."""
        record = self.get(package)
        if record is None or record.get("key") != key or manifest is None:
            return None
        paths = record.get("paths")
        if not isinstance(paths, list) or not paths:
            return None
        published = {e.path: e for e in manifest.entries}
        found = [published.get(p) for p in paths if isinstance(p, str)]
        if len(found) != len(paths) or any(e is None or e.origin != package for e in found):
            return None
        return [e for e in found if e is not None]

    def commit(self, package: str) -> str:
        record = self.get(package)
        return str(record.get("commit", "")) if record else ""

    def named(self, package: str) -> list[str]:
        """The files the package's spec named at its last recorded build."""
        record = self.get(package)
        named = record.get("named") if record else None
        return [n for n in named if isinstance(n, str)] if isinstance(named, list) else []

    def put(self, package: str, key: str, commit: str, paths: list[str], named: Sequence[str] = ()) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{package}.json"
        tmp = target.with_suffix(".tmp")
        try:
            tmp.write_text(
                json.dumps(
                    {
                        "format": CACHE_FORMAT,
                        "key": key,
                        "commit": commit,
                        "paths": sorted(paths),
                        "named": sorted(named),
                    }
                ),
                encoding="utf-8",
            )
            os.replace(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise


def kept_results(
    cache: BuildCache,
    entries: Sequence[PackageEntry],
    keys: Mapping[str, str],
    manifest: Manifest | None,
    identities: Mapping[str, SigningIdentity],
    out: Path,
) -> dict[str, PackageResult]:
    """Packages whose inputs match their last published build, with those files still published: they keep
    their signed files and are not built."""
    hits: dict[str, PackageResult] = {}
    for entry in entries:
        files = cache.published_files(entry.name, keys[entry.name], manifest)
        if files is not None:
            note = "inputs unchanged since the published build: kept its signed files"
            hits[entry.name] = _kept(entry, files, cache.commit(entry.name), identities[entry.name], out, note)
    return hits


def published_results(
    entries: Sequence[PackageEntry], manifest: Manifest, identities: Mapping[str, SigningIdentity], out: Path
) -> dict[str, PackageResult]:
    """Packages a run did not name, as the release publishes them, whatever their inputs are now: what a
    change of the named ones may reach is judged by the build roots they were built in."""
    found: dict[str, PackageResult] = {}
    for entry in entries:
        files = [e for e in manifest.entries if e.origin == entry.name]
        if files:
            commit = next((str((e.source or {}).get("commit", "")) for e in files if e.source), "")
            note = "not named: as published, rebuilt only when what it was built against changes"
            found[entry.name] = _kept(entry, files, commit, identities[entry.name], out, note)
    return found


def _kept(
    entry: PackageEntry,
    files: Sequence[ManifestEntry],
    commit: str,
    identity: SigningIdentity,
    out: Path,
    note: str,
) -> PackageResult:
    source = next((e.nevra for e in files if e.arch == "src"), files[0].nevra)
    return PackageResult(
        name=entry.name,
        repository=entry.repository,
        source=source,
        commit=commit,
        builder="cached",
        seconds=0.0,
        signed_by=identity,
        files=[PlacedFile(out / e.path, e.nevra) for e in files],
        notes=[note],
        built_by=next((dict(e.build) for e in files if e.build), {}),
        build_root=next((list(e.build_root) for e in files if e.build_root), []),
        rebuilt_for=next((e.rebuilt_for for e in files if e.rebuilt_for), None),
    )


def record_builds(
    cache: BuildCache,
    built: Mapping[str, PackageResult],
    manifest: Manifest,
    key_of: Callable[[str, Sequence[str]], str],
) -> None:
    """The cache records of what was published. Called after publishing: a failure is a warning, since the
    release did change. `key_of(package, named)` is the package's key with the files its spec named."""
    for name, result in built.items():
        paths = [e.path for e in manifest.entries if e.origin == name]
        try:
            cache.put(name, key_of(name, result.named_files), result.commit, paths, result.named_files)
        except (OSError, AltaiError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            log.warning(
                "%s: cannot record the build cache in %s (%s); the next run builds it again",
                name,
                cache.directory,
                reason,
            )
