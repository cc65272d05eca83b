"""What a run reports per package (the summary and `--json`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .nevra import Nevra
from .signing import SigningIdentity


@dataclass(frozen=True)
class PlacedFile:
    path: Path  # in the release tree (or, before publishing, in the staging area)
    nevra: Nevra


@dataclass(frozen=True)
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
        }
