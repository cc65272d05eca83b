"""Release notes: `RELEASE-NOTES.md` and `index.html` of a release, from the layout's templates.

What changed against the previous release (added, removed, upgraded, downgraded with the layout's reason,
rebuilt; a dependent the release rebuilt says what for), where each upgraded package lists the %changelog
entries between the two versions, read from the RPM headers; per repository the package count and size; each
package linked to its file and its build log, by paths inside the release tree (the page has no external
asset and every link resolves)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from altai_release.core.errors import AltaiError
from altai_release.core.templates import render
from altai_release.layout import ReleaseLayout
from altai_release.release.publish.install_lines import primary_package, release_package
from altai_release.rpm.manifest import Manifest, ManifestEntry
from altai_release.rpm.manifestdiff import Change, diff, key_changes
from altai_release.rpm.nevra import Nevra
from altai_release.rpm.readback import read_header
from altai_release.rpm.rpmbindings import rpm_bindings

CHECKS_FILE = "metadata/checks.json"  # what --gate checked, written before the tree is published
NOTES_MD = "RELEASE-NOTES.md"
NOTES_HTML = "index.html"


@dataclass(frozen=True)
class ChangelogEntry:
    date: str
    author: str
    text: str


@dataclass
class NotedChange:
    kind: str
    repository: str
    name: str
    arch: str
    old: str | None
    new: str | None
    path: str | None  # the package's file in the release (None when removed)
    log: str | None  # its build log in the release, when there is one
    reason: str | None = None  # a downgrade's reason from the layout; a rebuild's 'rebuilt for …'
    changelog: list[ChangelogEntry] = field(default_factory=list)


@dataclass(frozen=True)
class RepositorySummary:
    name: str
    path: str
    packages: int  # binary packages (or source packages in a repository of sources)
    size: int
    signed_by: str  # the layout key and the key ids of its packages' signatures: "altai (0x…)"


@dataclass(frozen=True)
class PublishedKey:
    file: str  # RPM-GPG-KEY-<name>, in the release
    key_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    development: bool


def _changelog(path: Path) -> list[tuple[int, str, str]]:
    """(time, name line, text) of every %changelog entry of a package, newest first."""
    rpm = rpm_bindings()
    hdr = read_header(path)
    times = hdr[rpm.RPMTAG_CHANGELOGTIME] or []
    names = hdr[rpm.RPMTAG_CHANGELOGNAME] or []
    texts = hdr[rpm.RPMTAG_CHANGELOGTEXT] or []
    return [(int(t), str(n), str(x)) for t, n, x in zip(times, names, texts, strict=False)]


def _newer_entries(new_file: Path, old_file: Path | None, old: Nevra) -> list[ChangelogEntry]:
    """The entries of the new package that the old one did not have: those above the first entry the old
    package also has when its file is at hand (changelog times are days: they cannot tell two entries of
    one day apart), else those whose name line names a version above the old one."""
    try:
        entries = _changelog(new_file)
        known = set(_changelog(old_file)) if old_file and old_file.exists() else None
    except AltaiError:
        return []
    chosen = []
    for stamp, name, text in entries:
        if known is not None:
            if (stamp, name, text) in known:
                break
        else:
            evr = name.rsplit(" ", 1)[-1].strip()
            epoch, _, vr = evr.rpartition(":")
            if "-" in vr and (not epoch or epoch.isdigit()):
                version, release = vr.rsplit("-", 1)
                mentioned = Nevra(old.name, int(epoch) if epoch else None, version, release, old.arch)
                if mentioned.compare_evr(old) <= 0:
                    break
        author = name.rsplit(" - ", 1)[0] if " - " in name else name
        lines = [ln.strip().removeprefix("- ").strip() for ln in text.splitlines() if ln.strip()]
        chosen.append(ChangelogEntry(time.strftime("%Y-%m-%d", time.gmtime(stamp)), author, "; ".join(lines)))
    return chosen


def _log_of(release_dir: Path, entry: ManifestEntry) -> str | None:
    log = f"logs/{entry.origin}/build.log"
    return log if (release_dir / log).is_file() else None


def noted_changes(
    layout: ReleaseLayout, old: Manifest, new: Manifest, release_dir: Path, old_dir: Path | None
) -> list[NotedChange]:
    """What `new` changes against `old`, binary repositories only (each SRPM follows its packages)."""
    binary = {n for n, r in layout.repositories.items() if r.content != "sources"}
    new_entries = {(e.repository, e.name, e.arch): e for e in new.entries}
    old_entries = {(e.repository, e.name, e.arch): e for e in old.entries}
    noted = []
    for change in diff(old, new):
        if change.repository not in binary and change.repository in layout.repositories:
            continue
        key = (change.repository, change.name, change.arch)
        entry, before = new_entries.get(key), old_entries.get(key)
        item = NotedChange(
            change.kind,
            change.repository,
            change.name,
            change.arch,
            change.old,
            change.new,
            entry.path if entry else None,
            _log_of(release_dir, entry) if entry else None,
        )
        if change.kind == "downgraded" and entry is not None:
            item.reason = entry.downgrade_reason
        elif change.rebuilt_for:
            item.reason = change.rebuilt_for
        if change.kind == "upgraded" and entry is not None and before is not None:
            old_file = old_dir / before.path if old_dir is not None else None
            item.changelog = _newer_entries(release_dir / entry.path, old_file, before.nevra)
        noted.append(item)
    return noted


def summaries(layout: ReleaseLayout, manifest: Manifest, release_dir: Path) -> list[RepositorySummary]:
    rows = []
    for name, repo in layout.repositories.items():
        entries = [e for e in manifest.entries if e.repository == name]
        size = sum((release_dir / e.path).stat().st_size for e in entries if (release_dir / e.path).exists())
        ids = sorted({e.signer_keyid.upper() for e in entries if e.signer_keyid})
        signer = f"{repo.signed_by} ({', '.join(ids)})" if ids else repo.signed_by
        rows.append(RepositorySummary(name, repo.path, len(entries), size, signer))
    return rows


def published_keys(release_dir: Path) -> list[PublishedKey]:
    from altai_release.signing.keyfiles import public_key_facts

    keys = []
    for path in sorted(release_dir.glob("RPM-GPG-KEY-*")):
        facts = public_key_facts(path)
        keys.append(PublishedKey(path.name, facts.key_ids, facts.user_ids, facts.development))
    return keys


def _when(stamp: str | None) -> str:
    """An ISO time of the manifest as the notes show it."""
    if not stamp:
        return "(time not recorded)"
    return stamp.replace("T", " ").replace("Z", " UTC")


def gate_checks(release_dir: Path) -> dict[str, Any] | None:
    """What `--gate` checked on this tree before it was published (metadata/checks.json), if it ran."""
    try:
        data = json.loads((release_dir / CHECKS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("checks"), list) else None


def _context(
    layout: ReleaseLayout, manifest: Manifest, previous: Manifest, release_dir: Path, previous_dir: Path | None
) -> dict[str, Any]:
    changes = noted_changes(layout, previous, manifest, release_dir, previous_dir)
    keys = published_keys(release_dir)
    development = sorted({k for key in keys if key.development for k in key.key_ids})
    return {
        "release": manifest.release,
        "version": manifest.version,
        "id": manifest.id or "(not recorded)",
        "date": _when(manifest.published),
        "previous": (
            {"version": previous.version, "id": previous.id or "(not recorded)", "date": _when(previous.published)}
            if previous.entries
            else None
        ),
        "repositories": summaries(layout, manifest, release_dir),
        "changes": changes,
        "key_changes": key_changes(previous, manifest) if previous.entries else [],
        "counts": {k: sum(c.kind == k for c in changes) for k in Change.KINDS},
        "packages": [
            {"entry": e, "log": _log_of(release_dir, e)}
            for e in sorted(manifest.entries, key=lambda e: (e.repository, e.name, e.arch))
        ],
        "keys": keys,
        "release_package": release_package(layout, manifest, release_dir),
        "primary": primary_package(layout, manifest),
        "checks": gate_checks(release_dir),
        # what the release says about itself: its SBOM and a signed provenance statement per binary we built
        "sbom": (manifest.attestations or {}).get("sbom"),
        "provenance": (manifest.attestations or {}).get("provenance") or {},
        # key ids of the development key that signed packages of this release
        "development_keys": sorted({e.signer_keyid.upper() for e in manifest.entries} & set(development)),
    }


def markdown(
    layout: ReleaseLayout, manifest: Manifest, previous: Manifest, release_dir: Path, previous_dir: Path | None
) -> str:
    context = _context(layout, manifest, previous, release_dir, previous_dir)
    return render(layout.templates, "RELEASE-NOTES.md.j2", context)


def write_notes(
    layout: ReleaseLayout, manifest: Manifest, previous: Manifest, release_dir: Path, previous_dir: Path | None
) -> None:
    context = _context(layout, manifest, previous, release_dir, previous_dir)
    (release_dir / NOTES_MD).write_text(render(layout.templates, "RELEASE-NOTES.md.j2", context), encoding="utf-8")
    html = render(layout.templates, "index.html.j2", context, autoescape=True)
    (release_dir / NOTES_HTML).write_text(html, encoding="utf-8")
