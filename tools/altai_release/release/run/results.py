"""What a run reports per package (the summary and `--json`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from altai_release.layout import ReleaseLayout
from altai_release.rpm.nevra import Nevra
from altai_release.signing.assignment import SigningIdentity


@dataclass(frozen=True)
class PlacedFile:
    path: Path  # in the release tree (or, before publishing, in the staging area)
    nevra: Nevra


@dataclass(frozen=True, kw_only=True)
class PackageResult:
    name: str
    repository: str
    source: Nevra
    commit: str
    builder: str  # the builder's name, or "cached"
    seconds: float
    signed_by: SigningIdentity
    files: list[PlacedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    named_files: tuple[str, ...] = ()  # what the spec named besides the tree: part of the cache key
    built_by: dict[str, str] = field(default_factory=dict)  # BuildOutput.facts (or the kept build's)
    build_root: list[dict[str, str]] = field(default_factory=list)  # what its root held (RootPackage.as_json)
    rebuilt_for: str | None = None  # a dependent rebuilt for packages of the release that changed: which

    def as_json(self) -> dict[str, object]:
        return {
            "package": self.name,
            "repository": self.repository,
            "nevra": str(self.source),
            "commit": self.commit,
            "builder": self.builder,
            "seconds": round(self.seconds, 3),
            "signed_by": {
                "key": self.signed_by.key_name,
                "fingerprint": self.signed_by.fingerprint,
                "development": self.signed_by.development,
            },
            "files": [{"path": str(f.path), "nevra": str(f.nevra)} for f in self.files],
            "notes": self.notes,
            "rebuilt_for": self.rebuilt_for,
        }

    def placed(self, out: Path, layout: ReleaseLayout) -> PackageResult:
        """The result with its files where the release tree at `out` holds them."""

        def directory(arch: str) -> Path:
            return out / layout.repositories[layout.repository_for(self.repository, arch)].path

        return replace(self, files=[PlacedFile(directory(f.nevra.arch) / f.path.name, f.nevra) for f in self.files])
