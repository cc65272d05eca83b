"""A package publishes only names it owns. A name belongs to the layout's package of that name (with its
`-debuginfo` and `-debugsource`, which rpm names after the source package), else to the origin that first
published it; names are compared as a host's user types them, whatever their case. A package may not be
named like another origin's, nor `Provides:` or `Obsoletes:` one (dnf would then install or replace the other
package: `Obsoletes: altai-release` takes the release package off every host), and two packages of one run
never make one file. Each refusal is a PublishError (exit 5) naming both, before anything is written."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from altai_release.core.errors import PublishError
from altai_release.layout import ReleaseLayout
from altai_release.rpm.manifest import ManifestEntry
from altai_release.rpm.readback import read_header

_SUFFIXES = ("-debuginfo", "-debugsource")
_BARE_NAME = re.compile(r"[A-Za-z0-9._+-]+")  # `config(x)`, `python3dist(x)`, `/usr/bin/x` are not names
_REFUSED = "a package publishes only names it owns; nothing was published"


def _key(name: str) -> str:
    return name.lower()


def _layout_owner(layout: ReleaseLayout, name: str) -> str | None:
    """The layout package a name belongs to by its spelling alone."""
    key = _key(name)
    for package in layout.packages:
        if key in (_key(package), *(_key(package + s) for s in _SUFFIXES)):
            return package
    return None


def check_names(layout: ReleaseLayout, entries: Sequence[ManifestEntry], new: set[str]) -> None:
    """No binary or source package named like another package of the layout (the release package among
    them) or like a name another origin publishes in the release."""
    owners: dict[str, ManifestEntry] = {}
    for entry in sorted(entries, key=lambda e: (e.path in new, e.path)):  # what is kept names the owner
        other = _layout_owner(layout, entry.name)
        if other is not None and other != entry.origin:
            raise PublishError(
                f"{entry.origin} publishes {entry.path.rsplit('/', 1)[-1]}, named like the layout's package "
                f"{other}: {_REFUSED}"
            )
        first = owners.setdefault(_key(entry.name), entry)
        if first.origin != entry.origin:
            kept, taker = (first, entry) if first.path not in new else (entry, first)
            raise PublishError(
                f"{taker.origin} publishes {taker.path.rsplit('/', 1)[-1]}, but {kept.origin} publishes the "
                f"name {kept.name} ({kept.path}): {_REFUSED}"
            )


def check_claims(layout: ReleaseLayout, entries: Sequence[ManifestEntry], new_files: Mapping[str, Path]) -> None:
    """No new package `Provides:` or `Obsoletes:` a name that belongs to another origin."""
    published = {_key(e.name): e.origin for e in entries}
    by_path = {e.path: e for e in entries}
    for path, staged in sorted(new_files.items()):
        entry = by_path[path]
        for kind, name in _claimed_names(staged):
            owner = _layout_owner(layout, name) or published.get(_key(name))
            if owner is not None and owner != entry.origin:
                raise PublishError(
                    f"{entry.origin} publishes {staged.name}, which {kind} {name}, a name of {owner}: {_REFUSED}"
                )


def _claimed_names(package: Path) -> Iterable[tuple[str, str]]:
    header = read_header(package)
    for kind, tag in (("provides", "providename"), ("obsoletes", "obsoletename")):
        for name in header[tag] or []:
            text = name.decode() if isinstance(name, bytes) else str(name)
            if _BARE_NAME.fullmatch(text):
                yield kind, text


def check_one_maker(path: str, origin: str, made: dict[str, str]) -> None:
    """Two packages of one run never make the same file (a sub-package of one name in both)."""
    first = made.setdefault(path, origin)
    if first != origin:
        raise PublishError(f"{first} and {origin} both make {path.rsplit('/', 1)[-1]}: {_REFUSED}")
