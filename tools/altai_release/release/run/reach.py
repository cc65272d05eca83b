"""What a change reaches: a package kept from an earlier build is stale when the build root it would get now
differs from the one it was built against in a package of this release (a name its root recorded from the
release's repositories or the run's own, whose NEVRA or digest is another now). The layout's
`[buildroot] rebuild` says how far that goes, as OBS's `rebuild` does: `transitive` (every package that needs
a changed one, directly or through others), `direct` (only those that need one this run changed from its own
sources), `local` (none: only a package's own inputs count). A change of the base counts only with
`rebuild_on_base_change`; otherwise the run names how many packages were built on another base."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from altai_release.builders.rootrecord import of_release
from altai_release.layout import PackageEntry, ReleaseLayout
from altai_release.release.run.results import PackageResult
from altai_release.rpm.manifest import Manifest
from altai_release.rpm.readback import read_header
from altai_release.specfile.rebuildspec import Rebuild

if TYPE_CHECKING:
    from altai_release.sources import PackageSource
    from altai_release.sources.srpm_from_git import SrpmResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Now:
    """A package of the release as a build root would get it now."""

    nevra: str
    digest: str  # rpm's digest of it (SIGMD5); "" for a published file (its NEVRA never has other bytes)
    when: int  # its build time


def now_of(built: Mapping[str, PackageResult], manifest: Manifest | None) -> dict[str, Now]:
    """Name -> what a root gets of it now: this run's build of it, else the published one."""
    found: dict[str, Now] = {}
    for entry in manifest.entries if manifest is not None else []:
        if entry.arch != "src":
            found[entry.name] = Now(_nevra(entry.name, entry.epoch, entry.version, entry.release, entry.arch), "", 0)
    for result in built.values():
        for placed in result.files:
            if placed.nevra.arch == "src":
                continue
            header = read_header(placed.path)
            n = placed.nevra
            digest = bytes(header["sigmd5"] or b"").hex()
            found[n.name] = Now(_nevra(n.name, n.epoch, n.version, n.release, n.arch), digest, header["buildtime"] or 0)
    return found


def _nevra(name: str, epoch: int | None, version: str, release: str, arch: str) -> str:
    return f"{name}-{f'{epoch}:' if epoch else ''}{version}-{release}.{arch}"


def differences(result: PackageResult, now: Mapping[str, Now]) -> list[str]:
    """What of the release differs between the package's recorded root and now: `NAME OLD-EVR -> NEW-EVR`."""
    found = []
    for package in result.build_root:
        if not of_release(package):
            continue
        name = package["nevra"].rsplit("-", 2)[0]
        current = now.get(name)
        if current is None:
            continue  # no longer of the release: the published tree keeps what it had
        same_digest = not current.digest or not package["digest"] or current.digest == package["digest"]
        if current.nevra != package["nevra"] or not same_digest:
            found.append(f"{name} {_evr(package['nevra'], name)} -> {_evr(current.nevra, name)}")
    return found


def _evr(nevra: str, name: str) -> str:
    return nevra.removeprefix(f"{name}-").rsplit(".", 1)[0]


def reached(
    layout: ReleaseLayout,
    kept: Mapping[str, PackageResult],
    changed: Mapping[str, PackageResult],
    now: Mapping[str, Now],
    base_digest: str | None = None,
) -> dict[str, list[str]]:
    """The kept packages this round's changes reach, with what changed under each."""
    found: dict[str, list[str]] = {}
    for name, result in sorted(kept.items()):
        why = differences(result, now) if layout.buildroot.rebuild != "local" and changed else []
        old_base = result.built_by.get("config_sha256")
        if layout.buildroot.rebuild_on_base_change and base_digest and old_base not in (None, base_digest):
            why.append(f"the build root's base {str(old_base)[:12]} -> {base_digest[:12]}")
        if why:
            found[name] = why
    return found


def rebuild_of(result: PackageResult, why: list[str], now: Mapping[str, Now]) -> Rebuild:
    """The Release bump of a rebuilt dependent: one more than its published rebuild's, else 1; dated as the
    newest of what changed under it (else as its own build)."""
    counter = 1
    if result.rebuilt_for is not None:  # its published Release is a rebuild: `BASE.N`
        tail = result.source.release.rsplit(".", 1)[-1]
        counter = int(tail) + 1 if tail.isdigit() else 1
    when = max((now[r.split(" ")[0]].when for r in why if r.split(" ")[0] in now), default=0)
    if not when and result.files:
        when = int(read_header(result.files[0].path)["buildtime"] or 0)
    return Rebuild(counter, tuple(why), when)


def keep_above_rebuilds(
    sources: dict[str, PackageSource],
    srpms: dict[str, SrpmResult],
    published: Manifest | None,
    remake: Callable[[PackageSource], SrpmResult],
) -> dict[str, Rebuild]:
    """A package built from its own changed sources whose spec's Release is still the one the release
    rebuilt (`1.el6` below the published `1.el6.2`): its SRPM made again with the next bump (`1.el6.3`), so
    that its Release never goes down. Returns what was bumped so."""
    rebuilt = {e.origin: e for e in published.entries if e.arch == "src"} if published is not None else {}
    bumped: dict[str, Rebuild] = {}
    for name, made in list(srpms.items()):
        before, own = rebuilt.get(name), made.nevra
        if before is None or own.arch != "src" or before.nevra.compare_evr(own) <= 0:
            continue
        head, _, tail = before.release.rpartition(".")
        if head != own.release or not tail.isdigit() or (before.epoch, before.version) != (own.epoch, own.version):
            continue  # a lower Release of its own: the release policy's downgrade rule decides
        for_rebuild = getattr(sources[name], "for_rebuild", None)
        if for_rebuild is None:
            continue
        bump = Rebuild(int(tail) + 1, (), made.commit_time, above=before.nevra.evr)
        log.info("%s: %s", name, bump.summary)
        sources[name] = for_rebuild(bump)
        srpms[name] = remake(sources[name])
        bumped[name] = bump
    return bumped


def warn_base_change(kept: Mapping[str, PackageResult], base_digest: str | None) -> None:
    """One line when packages kept from before were built on another base than this run's."""
    if base_digest is None:
        return
    older = sorted(n for n, r in kept.items() if r.built_by.get("config_sha256") not in (None, base_digest))
    if older:
        log.warning(
            "the build root's base changed since %d kept package(s) were built (%s); they are not rebuilt for it "
            "(the layout's [buildroot] rebuild_on_base_change = true would)",
            len(older),
            ", ".join(older[:5]) + (" ..." if len(older) > 5 else ""),
        )


def share_with_roots(run_repo: Path, built: Mapping[str, PackageResult]) -> None:
    """What the run built, in the run's repository that every later root of the run gets (between rounds:
    no build reads it while it is written)."""
    from altai_release.rpm.repodata import write_repodata

    run_repo.mkdir(parents=True, exist_ok=True)
    for result in built.values():
        for placed in result.files:
            target = run_repo / placed.path.name
            if placed.nevra.arch != "src" and not target.exists():
                os.link(placed.path, target)
    write_repodata(run_repo, {}, 0)


def dependents(layout: ReleaseLayout, manifest: Manifest | None) -> list[str]:
    """The layout's packages whose published build was made against another package of the release: what a
    change of that package may reach, whichever packages a run names."""
    if manifest is None or layout.buildroot.rebuild == "local":
        return []
    found = set()
    for entry in manifest.entries:
        if entry.origin in layout.packages and any(of_release(p) for p in entry.build_root or []):
            found.add(entry.origin)
    return sorted(found)


Build = Callable[[list[PackageEntry], Mapping[str, Rebuild]], dict[str, PackageResult]]


def rebuild_reached(
    layout: ReleaseLayout,
    build: Build | None,
    run_repo: Path,
    built: dict[str, PackageResult],
    kept: dict[str, PackageResult],
    manifest: Manifest | None,
    base: str | None,
) -> dict[str, PackageResult]:
    """Round after round, the kept packages that what the run built reaches are rebuilt (`build`), each with
    its Release bumped, in a root that holds what the run built; what is rebuilt leaves `kept`."""
    changed = dict(built)
    for _ in range(len(layout.packages) + 1):  # each round reaches further; a package is rebuilt at most once
        now = now_of(built, manifest)
        why = reached(layout, kept, changed, now, base)
        if not why or build is None:
            break
        share_with_roots(run_repo, built)
        rebuilds = {name: rebuild_of(kept.pop(name), reasons, now) for name, reasons in why.items()}
        for name, rebuild in rebuilds.items():
            log.info("%s: %s (%s)", name, rebuild.summary, "; ".join(rebuild.reasons))
        changed = build([layout.packages[n] for n in rebuilds], rebuilds)
        built |= changed
        if layout.buildroot.rebuild != "transitive":
            changed = {}
    warn_base_change(kept, base)
    return built
