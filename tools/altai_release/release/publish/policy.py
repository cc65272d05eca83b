"""What the next release holds, and the rules it must keep: a published NEVRA never changes (the same
NEVRA with another unsigned header is refused), and a version never goes down unless the layout names
that downgrade (EVRs compared as rpm compares them); a package publishes only names it owns (`names`).
Nothing here writes a file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from altai_release.core.errors import PublishError
from altai_release.layout import ReleaseLayout
from altai_release.release.publish.names import check_claims, check_names, check_one_maker
from altai_release.rpm.evr import evr_matches, highest
from altai_release.rpm.manifest import Manifest, ManifestEntry
from altai_release.rpm.nevra import Nevra
from altai_release.rpm.readback import PackageFacts, read_facts

log = logging.getLogger(__name__)


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
    build_root: list[dict[str, str]] | None = None  # what its root held (see ManifestEntry.build_root)
    rebuilt_for: str | None = None  # see ManifestEntry.rebuilt_for


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
    _say_dropped(layout, previous, kept, complete)
    entries = {e.path: e for e in kept}
    new_files: dict[str, Path] = {}
    made: dict[str, str] = {}
    published = _by_name(previous)
    for item in additions:
        facts = read_facts(item.path)
        path = f"{layout.repositories[item.repository].path}/{item.path.name}"
        check_one_maker(path, item.origin, made)
        same = published_as(published, item.repository, facts.nevra)
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
        entries[path] = _entry(item, path, facts, downgraded_from, reason)
        new_files[path] = item.path
    manifest = Manifest(layout.name, layout.version, sorted(entries.values(), key=lambda e: e.path))
    check_names(layout, manifest.entries, {str(p) for p in new_files})
    check_claims(layout, manifest.entries, new_files)
    return ReleasePlan(manifest, new_files)


def _say_dropped(layout: ReleaseLayout, previous: Manifest, kept: list[ManifestEntry], complete: bool) -> None:
    """One line for the packages of the release that the layout no longer names: the release job (`--all`)
    leaves them out, a run of some packages keeps them (it changes only what it builds)."""
    known = set(layout.packages) | {f"upstream:{name}" for name in layout.upstreams}
    gone = sorted({e.origin for e in previous.entries if e.origin not in known})
    if not gone:
        return
    if complete:
        log.warning("%s: no longer in the layout %s: left out of the release", ", ".join(gone), layout.file.name)
    elif any(e.origin in gone for e in kept):
        log.warning(
            "%s: no longer in the layout %s, kept in the release (a run of some packages changes only them; "
            "--all leaves them out)",
            ", ".join(gone),
            layout.file.name,
        )


def _by_name(manifest: Manifest) -> dict[tuple[str, str, str], list[ManifestEntry]]:
    found: dict[tuple[str, str, str], list[ManifestEntry]] = {}
    for e in manifest.entries:
        found.setdefault((e.repository, e.name, e.arch), []).append(e)
    return found


def _entry(
    item: NewFile, path: str, facts: PackageFacts, downgraded_from: str | None, reason: str | None
) -> ManifestEntry:
    n = facts.nevra
    return ManifestEntry(
        item.repository,
        path,
        item.origin,
        n.name,
        n.epoch,
        n.version,
        n.release,
        n.arch,
        facts.sha256,
        facts.header_sha256,
        item.signer,
        facts.signer_keyid,
        downgraded_from,
        reason,
        item.source,
        item.build,
        item.build_root if n.arch != "src" else None,
        item.rebuilt_for,
    )


def published_as(
    published: dict[tuple[str, str, str], list[ManifestEntry]], repository: str, nevra: Nevra
) -> ManifestEntry | None:
    """The published entry (by repository, name and arch) that is `nevra` as rpm compares them (a missing
    epoch is 0, `01` is `1`): another spelling of a published EVR is the same package to every host."""
    same = published.get((repository, nevra.name, nevra.arch), [])
    return next((e for e in same if e.nevra.compare_evr(nevra) == 0), None)


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
    if older.rebuilt_for and not item.rebuilt_for:
        # the rebuild's `.N` lives in the release only: the package's own spec never had it
        raise PublishError(
            f"{nevra} would go down from {older.nevra.evr} in {item.repository}, the release's rebuild of it "
            f"({older.rebuilt_for}); raise the Release in {item.origin}'s spec above {older.nevra.evr}"
        )
    raise PublishError(
        f"{nevra} would go down from {older.nevra.evr} in {item.repository}; a downgrade must be named "
        f'in the layout ({item.origin}: allow_downgrade_to = "{nevra.evr}")'
    )
