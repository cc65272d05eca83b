"""What every package source gives the pipeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from altai_release.core.limits import SandboxLimits
    from altai_release.sources.srpm_from_git import SrpmResult


class PackageSource(Protocol):
    @property
    def name(self) -> str:
        """The layout's package name."""
        ...

    @property
    def description(self) -> str:
        """Where the package comes from, for progress lines and errors (e.g. `REPO at REF (commit X)`)."""
        ...

    @property
    def making(self) -> str:
        """What the run does with the source before the description, in its progress line."""
        ...

    @property
    def provenance(self) -> dict[str, str]:
        """Where the package is made from, as the manifest records it."""
        ...

    def material(self, named: Sequence[str]) -> Mapping[str, object]:
        """What the package is made of, for its build-cache key: it changes when and only when one of the
        package's inputs changes. `named`: the files its spec names besides its own tree."""
        ...

    def make_srpm(self, outdir: Path, macro_files: Sequence[Path], limits: SandboxLimits) -> SrpmResult:
        """The SRPM to build, in `outdir` (safe to call from several threads for different packages); a spec
        is read in a sandbox with `limits`."""
        ...
