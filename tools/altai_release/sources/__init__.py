"""Where a package of the layout comes from: a git repository with a spec, or a third-party source RPM.
Each kind is a module behind the PackageSource protocol, resolved once per run."""

from __future__ import annotations

from pathlib import Path

from ..layout import PackageEntry, ReleaseLayout
from .base import PackageSource
from .git import GitPackageSource
from .srpm import SrpmPackageSource

__all__ = ["GitPackageSource", "PackageSource", "SrpmPackageSource", "resolve_source"]


def resolve_source(
    entry: PackageEntry,
    layout: ReleaseLayout,
    workdir: Path,
    downloads: Path,
    named: list[str],
    memo: Path | None = None,
) -> PackageSource:
    """The package's source, resolved: its commit (or verified file) fixed for the whole run. `named`: the
    files its spec named at its last build (part of what a git package is made of); `downloads`: the
    content-addressed cache of fetched files; `memo`: where git packages keep what their commits resolved to."""
    if entry.srpm is not None:
        return SrpmPackageSource.resolve(entry, layout, workdir / entry.name, downloads)
    source = GitPackageSource.resolve(entry, workdir, named, layout.lookaside, downloads, memo)
    source.download_limits = layout.downloads
    return source
