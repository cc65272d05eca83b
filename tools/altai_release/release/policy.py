"""What the next release holds, and the rules it must keep: a published NEVRA never changes (the same
NEVRA with another unsigned header is refused), and a version never goes down unless the layout names
that downgrade. Nothing here writes a file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from altai_release.core.errors import PublishError
from altai_release.layout import ReleaseLayout
from altai_release.rpm.evr import evr_matches, highest
from altai_release.rpm.manifest import Manifest, ManifestEntry
from altai_release.rpm.nevra import Nevra
from altai_release.rpm.readback import read_facts


@dataclass(frozen=True)
class NewFile:
    """A signed and verified package waiting in the staging area to enter the release."""

    path: Path
    repository: str
    origin: str  # layout package name or upstream name
    signer: str  # layout key name
    allowed_downgrade: str | None = None  # the EVR the layout allows this origin to go down to
    downgrade_reason: str | None = None  # the layout's word for why
    source: dict[str, str] | None = None  # where it was made from (see ManifestEntry.source)
    build: dict[str, str] | None = None  # who built it (see ManifestEntry.build)


@dataclass(frozen=True)
class ReleasePlan:
    manifest: Manifest
    new_files: dict[str, Path]  # release path -> staged file; every other entry comes from the current release


def plan_release(
    layout: ReleaseLayout,
    previous: Manifest,
    additions: Sequence[NewFile],
    replaced_origins: set[str],
    complete: bool = False,
    kept_origins: frozenset[str] = frozenset(),
) -> ReleasePlan:
    """Entries of `replaced_origins` (or, when `complete`, every entry but those of `kept_origins`) leave the
    release; `additions` enter it. Raises PublishError before anything is written when a rule is broken."""
    kept = [
        e
        for e in previous.entries
        if (e.origin in kept_origins if complete else e.origin not in replaced_origins)
        and e.repository in layout.repositories
    ]
    by_identity = {(e.repository, e.nevra): e for e in previous.entries}
    entries = {e.path: e for e in kept}
    new_files: dict[str, Path] = {}
    for item in additions:
        facts = read_facts(item.path)
        path = f"{layout.repositories[item.repository].path}/{item.path.name}"
        same = by_identity.get((item.repository, facts.nevra))
        if same is not None:
            if same.header_sha256 != facts.header_sha256:
                raise PublishError(
                    f"{facts.nevra} is already published in {item.repository} with other content; "
                    "a published NEVRA never changes: raise its Release"
                )
            if same.signer_keyid == facts.signer_keyid:
                # the same build signed again by the same key: keep the bytes the release already has
                entries[same.path] = replace(same, origin=item.origin)
                continue
            downgraded_from = same.downgraded_from  # the same build under a rotated key
            reason = same.downgrade_reason
        else:
            downgraded_from = check_downgrade(previous, item, facts.nevra)
            reason = item.downgrade_reason if downgraded_from else None
        entries[path] = ManifestEntry(
            repository=item.repository,
            path=path,
            origin=item.origin,
            name=facts.nevra.name,
            epoch=facts.nevra.epoch,
            version=facts.nevra.version,
            release=facts.nevra.release,
            arch=facts.nevra.arch,
            sha256=facts.sha256,
            header_sha256=facts.header_sha256,
            signer=item.signer,
            signer_keyid=facts.signer_keyid,
            downgraded_from=downgraded_from,
            downgrade_reason=reason,
            source=item.source,
            build=item.build,
        )
        new_files[path] = item.path
    manifest = Manifest(layout.name, layout.version, sorted(entries.values(), key=lambda e: e.path))
    check_names(layout, manifest.entries, {str(p) for p in new_files})
    return ReleasePlan(manifest, new_files)


def check_names(layout: ReleaseLayout, entries: Sequence[ManifestEntry], new: set[str]) -> None:
    """A package publishes only names it owns: no binary or source package named like another package of the
    layout (the release package among them), and no name another origin publishes in the release. Raises
    PublishError naming both, before anything is written."""
    owners: dict[str, ManifestEntry] = {}
    for entry in sorted(entries, key=lambda e: (e.path in new, e.path)):  # what is kept names the owner
        other = layout.packages.get(entry.name)
        if other is not None and other.name != entry.origin:
            raise PublishError(
                f"{entry.origin} publishes {entry.path.rsplit('/', 1)[-1]}, named like the layout's package "
                f"{other.name}: a package publishes only names it owns; nothing was published"
            )
        first = owners.setdefault(entry.name, entry)
        if first.origin != entry.origin:
            kept, taker = (first, entry) if first.path not in new else (entry, first)
            raise PublishError(
                f"{taker.origin} publishes {taker.path.rsplit('/', 1)[-1]}, but {kept.origin} publishes the "
                f"name {entry.name} ({kept.path}): a package publishes only names it owns; nothing was published"
            )


def check_downgrade(previous: Manifest, item: NewFile, nevra: Nevra) -> str | None:
    """None when `nevra` does not go down in its repository; the EVR it goes down from when the layout
    allows exactly that; else PublishError."""
    older = highest(
        (e for e in previous.entries if (e.repository, e.name, e.arch) == (item.repository, nevra.name, nevra.arch)),
        lambda e: e.nevra,
    )
    if older is None or nevra.compare_evr(older.nevra) >= 0:
        return None
    if item.allowed_downgrade is not None and evr_matches(nevra, item.allowed_downgrade):
        return older.nevra.evr
    raise PublishError(
        f"{nevra} would go down from {older.nevra.evr} in {item.repository}; a downgrade must be named "
        f'in the layout ({item.origin}: allow_downgrade_to = "{nevra.evr}")'
    )
