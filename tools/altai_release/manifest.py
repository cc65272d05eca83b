"""manifest.json: every package of a release, and the difference between two releases."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .nevra import Nevra

MANIFEST_NAME = "manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class ManifestEntry:
    repository: str  # the layout's repository name
    path: str  # relative to the release root
    origin: str  # the layout package or upstream pin that put it there
    name: str
    epoch: int | None
    version: str
    release: str
    arch: str
    sha256: str  # of the file
    header_sha256: str  # of the unsigned header: equal for a rebuild of the same inputs
    signer: str  # the layout's key name
    signer_keyid: str
    downgraded_from: str | None = None

    @property
    def nevra(self) -> Nevra:
        return Nevra(self.name, self.epoch, self.version, self.release, self.arch)


@dataclass
class Manifest:
    release: str
    version: str
    entries: list[ManifestEntry] = field(default_factory=list)

    def to_json(self) -> str:
        data = {"format": FORMAT, "release": self.release, "version": self.version,
                "packages": [asdict(e) for e in sorted(self.entries, key=lambda e: e.path)]}  # fmt: skip
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            entries = [ManifestEntry(**e) for e in data["packages"]]
            return cls(data["release"], data["version"], entries)
        except FileNotFoundError:
            raise InputError(f"{path}: no such manifest") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a release manifest: {exc}") from exc


@dataclass(frozen=True)
class Change:
    kind: str  # added | removed | upgraded | downgraded | rebuilt
    repository: str
    name: str
    arch: str
    old: str | None
    new: str | None

    def __str__(self) -> str:
        what = f"{self.repository}: {self.name}.{self.arch}"
        if self.kind == "added":
            return f"added       {what} {self.new}"
        if self.kind == "removed":
            return f"removed     {what} {self.old}"
        return f"{self.kind:<11} {what} {self.old} -> {self.new}"


def diff(old: Manifest, new: Manifest) -> list[Change]:
    """Per (repository, name, arch): what the new release adds, removes, upgrades, downgrades or rebuilds
    (same EVR, other content)."""

    def index(m: Manifest) -> dict[tuple[str, str, str], ManifestEntry]:
        best: dict[tuple[str, str, str], ManifestEntry] = {}
        for e in m.entries:
            key = (e.repository, e.name, e.arch)
            if key not in best or e.nevra.compare_evr(best[key].nevra) > 0:
                best[key] = e
        return best

    before, after = index(old), index(new)
    changes = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a is None and b is not None:
            changes.append(Change("added", *key, None, b.nevra.evr))
        elif b is None and a is not None:
            changes.append(Change("removed", *key, a.nevra.evr, None))
        elif a is not None and b is not None:
            order = b.nevra.compare_evr(a.nevra)
            if order > 0:
                changes.append(Change("upgraded", *key, a.nevra.evr, b.nevra.evr))
            elif order < 0:
                changes.append(Change("downgraded", *key, a.nevra.evr, b.nevra.evr))
            elif a.header_sha256 != b.header_sha256:
                changes.append(Change("rebuilt", *key, a.nevra.evr, b.nevra.evr))
    return changes
