"""Where a package of the layout comes from: a git repository with a spec, or a third-party source RPM.
Each kind is a module behind the PackageSource protocol, resolved once per run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from altai_release.layout import PackageEntry, ReleaseLayout
from altai_release.rpm.manifest import Manifest
from altai_release.sources.git_source import GitPackageSource
from altai_release.sources.release_source import ReleasePackageSource
from altai_release.sources.source import PackageSource
from altai_release.sources.srpm_source import SrpmPackageSource

__all__ = ["GitPackageSource", "PackageSource", "ReleasePackageSource", "SrpmPackageSource", "resolve_source"]


def resolve_source(
    entry: PackageEntry,
    layout: ReleaseLayout,
    workdir: Path,
    downloads: Path,
    named: list[str],
    memo: Path | None = None,
    release: tuple[str, Mapping[str, bytes], Manifest | None] | None = None,
) -> PackageSource:
    """The package's source, resolved: its commit (or verified file) fixed for the whole run. `named`: the
    files its spec named at its last build (part of what a git package is made of); `downloads`: the
    content-addressed cache of fetched files; `memo`: where git packages keep what their commits resolved to."""
    if entry.generated:
        assert release is not None  # the run's base URL and public keys
        base_url, public_keys, current = release
        return ReleasePackageSource.resolve(entry, layout, base_url, public_keys, workdir / entry.name, current)
    if entry.srpm is not None:
        return SrpmPackageSource.resolve(entry, layout, workdir / entry.name, downloads)
    source = GitPackageSource.resolve(entry, workdir, named, layout.lookaside, downloads, memo)
    source.download_limits = layout.downloads
    return source
