"""The difference between two releases' manifests: what the newer adds, removes, upgrades, downgrades or
rebuilds, and the keys whose ids changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from altai_release.rpm.manifest import Manifest, ManifestEntry


@dataclass(frozen=True)
class Change:
    KINDS: ClassVar[tuple[str, ...]] = ("added", "removed", "upgraded", "downgraded", "rebuilt")

    kind: str  # one of KINDS
    repository: str
    name: str
    arch: str
    old: str | None
    new: str | None
    rebuilt_for: str | None = None  # the newer entry is a dependent the release rebuilt: what for

    def __str__(self) -> str:
        what = f"{self.repository}: {self.name}.{self.arch}"
        if self.kind == "added":
            return f"added       {what} {self.new}"
        if self.kind == "removed":
            return f"removed     {what} {self.old}"
        why = f" ({self.rebuilt_for})" if self.rebuilt_for else ""
        return f"{self.kind:<11} {what} {self.old} -> {self.new}{why}"


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
            why = b.rebuilt_for if b.rebuilt_for != a.rebuilt_for else None
            if order > 0:
                changes.append(Change("upgraded", *key, a.nevra.evr, b.nevra.evr, why))
            elif order < 0:
                changes.append(Change("downgraded", *key, a.nevra.evr, b.nevra.evr))
            elif a.header_sha256 != b.header_sha256:
                changes.append(Change("rebuilt", *key, a.nevra.evr, b.nevra.evr, why))
    return changes


@dataclass(frozen=True)
class KeyChange:
    """A layout key that signs with another key than before: a rotation (or a development key replaced)."""

    key: str  # the layout's name of the key
    old: tuple[str, ...]  # the key ids that signed its packages before
    new: tuple[str, ...]

    def __str__(self) -> str:
        return f"key         {self.key}: {', '.join(self.old)} -> {', '.join(self.new)}"


def key_changes(old: Manifest, new: Manifest) -> list[KeyChange]:
    """Per layout key signing packages in both releases: whether the key ids behind it changed."""

    def ids(m: Manifest) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for e in m.entries:
            if e.signer_keyid:
                found.setdefault(e.signer, set()).add(e.signer_keyid.lower())
        return found

    before, after = ids(old), ids(new)
    return [
        KeyChange(key, tuple(sorted(before[key])), tuple(sorted(after[key])))
        for key in sorted(before.keys() & after.keys())
        if before[key] != after[key]
    ]
