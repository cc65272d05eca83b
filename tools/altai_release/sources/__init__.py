"""Where a package of the layout comes from. One kind today (a git repository with a spec); each kind is a
module behind the PackageSource protocol, resolved once per run."""

from __future__ import annotations

from pathlib import Path

from ..layout import PackageEntry
from .base import PackageSource
from .git import GitPackageSource

__all__ = ["GitPackageSource", "PackageSource", "resolve_source"]


def resolve_source(entry: PackageEntry, workdir: Path, named: list[str]) -> PackageSource:
    """The package's source, resolved: its commit (or file) fixed for the whole run. `named`: the files its
    spec named at its last build (part of what the package is made of)."""
    return GitPackageSource.resolve(entry, workdir, named)
