"""`tools/build.py --verify DIR`: the release's promise ("take a basic CentOS, take our source RPMs, and you
can build the whole release") as a command. Using only what DIR holds, the keys the check pins outside it
(`signing.trust`: the layout's, the user's keyring, `--trust-key`; never the tree's own) and the layout's
build environment (the sandboxed local rpmbuild with its macros, mock, or the layout's Koji hub, where a
rebuild is a scratch build), it checks what `tree_check` checks (the published keys, signed metadata,
packages listed, signed and in the manifest, every binary with its SRPM), what `attestation_check` checks
(the SBOM, the provenance statements and their claims) and that the signed SHA256SUMS accounts for every file
of the tree (`checksums`); then reproducibility: each published SRPM that passed those checks is rebuilt, and
each rebuilt binary's header (every tag, the payload digest among them; signatures aside) is compared with
the published one's. A binary whose SRPM failed is not counted as reproduced; "signed" is said only of a
package whose signature was checked.

DIR is somebody's input: every file is read as a copy taken without following a link, within the layout's
file-size bound, and a malformed one is a FAIL naming it. Nothing is written into DIR (a read-only copy
will do); the work directory goes on every exit, and no verdict names it."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from altai_release.builders import Builder, BuildJob, make_builder
from altai_release.builders.rootrecord import root_changes
from altai_release.builders.scheduler import run_all
from altai_release.core.errors import AltaiError, InputError
from altai_release.layout import PackageEntry, ReleaseLayout
from altai_release.layout.places import state_dir as default_state_dir
from altai_release.release.attest.sbom import sbom_name
from altai_release.release.check.tree_check import TreeCheck, check_tree
from altai_release.release.check.treefiles import TreeFiles, Verdict, built_repositories, sources_path, tree_manifest
from altai_release.release.publish.checksums import CHECKSUMS
from altai_release.rpm.manifest import Manifest
from altai_release.rpm.readback import read_header
from altai_release.rpm.rpmheader import read_identity
from altai_release.sandbox.scratch import held_workdir
from altai_release.signing.signature_check import KeyDatabases
from altai_release.signing.trust import TrustedKey, TrustSources

log = logging.getLogger(__name__)

__all__ = ["Verdict", "Verification", "verify_release"]


@dataclass(frozen=True)
class Verification:
    verdicts: list[Verdict]  # one per file, in the order of their paths
    trusted: list[TrustedKey]  # the keys the checks trusted, and where they came from


def verify_release(
    layout: ReleaseLayout, tree: Path, jobs: int, builder_kind: str = "rpmbuild", trust: TrustSources | None = None
) -> Verification:
    """Verdicts on every file of the release at `tree`, against the keys `trust` pins, its SRPMs rebuilt by the
    builder a release would use (`builder_kind`: the sandboxed local rpmbuild, mock, or the layout's Koji
    hub)."""
    tree = tree.resolve()  # OUT is a link to its release: that one link is followed, none below it
    manifest = tree_manifest(tree)
    if (manifest.release, manifest.version) != (layout.name, layout.version):
        log.warning(
            "%s is %s %s (its manifest.json) and %s says %s %s: the release's own names are checked",
            tree,
            manifest.release,
            manifest.version,
            layout.file,
            layout.name,
            layout.version,
        )
    with held_workdir("altai-verify-") as work:
        pins = (trust or TrustSources()).pins(layout, work / "keys", tree)
        files = TreeFiles(tree, work, layout.sandbox.file_size)
        check = check_tree(layout, files, manifest, KeyDatabases(work / "rpmdb"), pins)
        verdicts = _checked(layout, manifest, check)
        srpms = [
            rel
            for name in built_repositories(layout)
            for rel in sorted(check.passed)
            if rel.startswith(f"{sources_path(layout, name)}/") and rel.endswith(".src.rpm")
        ]
        origins = {e.path: e.origin for e in manifest.entries}
        roots = {e.path: e.build_root for e in manifest.entries if e.build_root}
        # mock's chroot gets the tree's own repositories for BuildRequires between its packages
        state_dir = (trust or TrustSources()).state_dir or default_state_dir(None)  # mock's caches and base
        builder = make_builder(builder_kind, layout, tree, tree, work, state_dir, verification=True)
        builder.start({})

        def rebuild(srpm: str) -> list[Verdict]:
            where = work / "build" / Path(srpm).name
            return _rebuild_and_compare(layout, builder, check.passed, srpm, origins.get(srpm, ""), where, roots)

        for found in run_all(sorted(set(srpms)), max(1, jobs), rebuild).values():
            for verdict in found:
                verdicts.setdefault(verdict.path, verdict)
        for rel in check.passed:
            if rel.endswith(".rpm") and not rel.endswith(".src.rpm") and _built(layout, rel):
                verdicts.setdefault(rel, Verdict(rel, "not reproduced: its source RPM failed its checks", False))
        for rel in check.passed:  # upstream packages: their signature, checked, is what vouches for them
            signer = pins.get(layout.repositories[_repository_at(layout, rel)].signed_by)
            verdicts.setdefault(
                rel, Verdict(rel, f"signed by the pinned key {signer.name} (upstream package, not rebuilt)", True)
            )
        return Verification([_without(verdicts[p], work) for p in sorted(verdicts)], pins.found())


def _checked(layout: ReleaseLayout, manifest: Manifest, check: TreeCheck) -> dict[str, Verdict]:
    """The verdicts of the checks before any rebuild: each failure, and the attestations that passed."""
    verdicts: dict[str, Verdict] = {}
    for failed in check.failed:
        verdicts.setdefault(failed.path, failed)
    said = "signed by the pinned metadata key, names its package and says what the manifest says (provenance)"
    for rel in check.statements:
        verdicts.setdefault(rel, Verdict(rel, said, True))
    sbom = sbom_name(layout.for_release(manifest.release, manifest.version))
    verdicts.setdefault(sbom, Verdict(sbom, "the release's packages and manifest make exactly this SBOM", True))
    if check.accounted:
        said = f"signed by the pinned metadata key; accounts for every file of the tree ({check.accounted})"
        verdicts.setdefault(CHECKSUMS, Verdict(CHECKSUMS, said, True))
    return verdicts


def _built(layout: ReleaseLayout, rel: str) -> bool:
    return any(rel.startswith(f"{layout.repositories[n].path}/") for n in built_repositories(layout))


def _without(verdict: Verdict, work: Path) -> Verdict:
    """A verdict that names no path of the work directory (it is gone when the user reads it)."""
    said = " ".join(verdict.verdict.replace(f"{work}/", "").replace(str(work), "").split())
    return Verdict(verdict.path, said, verdict.ok)


def _rebuild_and_compare(
    layout: ReleaseLayout,
    builder: Builder,
    passed: dict[str, Path],
    srpm_rel: str,
    origin: str,
    work: Path,
    roots: Mapping[str, list[dict[str, str]]],
) -> list[Verdict]:
    srpm = passed[srpm_rel]  # the checked copy: never the tree's file
    published = {Path(rel).name: copy for rel, copy in passed.items() if _binary_of(layout, rel, copy, srpm.name)}
    try:
        identity = read_identity(srpm).nevra
        buildtime = read_header(srpm)["buildtime"]
    except AltaiError as exc:
        return [Verdict(srpm_rel, f"not a readable source package: {exc}", False)]
    if not buildtime:
        return [Verdict(srpm_rel, "has no build time (BUILDTIME): its package's time is unknown", False)]
    # the package's time (SOURCE_DATE_EPOCH) its binaries were built with, as they record it: a local build
    # takes the SRPM's, a Koji build tag the newest %changelog entry's; a rebuild takes the same
    times = {read_header(p)["buildtime"] for p in published.values()}
    epoch = int(times.pop()) if len(times) == 1 and None not in times else int(buildtime)
    entry = layout.packages.get(origin) or PackageEntry(
        identity.name, None, "", None, None, _repository_of(layout, srpm_rel), layout.dist, layout.mock_chroot
    )
    job = BuildJob(
        package=entry,
        srpm=srpm,
        workdir=work / "job",
        logdir=work / "logs",
        source_date_epoch=epoch,
        unique=f"verify-{identity.name}-{os.getpid()}",
        # what a result may be named: the binaries published from this SRPM, and their debuginfo
        packages=tuple(sorted({read_identity(p).nevra.name for p in published.values()})),
    )
    job.logdir.mkdir(parents=True)
    job.workdir.mkdir(parents=True)
    try:
        output = builder.build(job)
        rebuilt = {p.name: p for p in output.rpms}
    except (AltaiError, OSError) as exc:
        return [Verdict(srpm_rel, f"does not rebuild: {' '.join(str(exc).split())}", False)]
    verdicts = [Verdict(srpm_rel, f"rebuilt with {builder.name} ({_counted(len(rebuilt))})", True)]
    for name, path in sorted(published.items()):
        rel = next(r for r, c in passed.items() if c == path)
        mine = rebuilt.get(name)
        if mine is None:
            verdicts.append(Verdict(rel, "differs: the rebuild makes no such package", False))
            continue
        differing = _differing_tags(path, mine)
        if differing and rel in roots:  # what it was built against then, and what the rebuild had
            changed = root_changes(roots[rel], output.build_root)
            differing += [f"its build root then and now differ in {'; '.join(changed)}"] if changed else []
        verdicts.append(Verdict(rel, f"differs: {', '.join(differing)}" if differing else "reproduced", not differing))
    return verdicts


def _counted(count: int) -> str:
    return f"{count} binary package{'s' if count != 1 else ''}"


def _binary_of(layout: ReleaseLayout, rel: str, copy: Path, srpm_name: str) -> bool:
    if rel.endswith(".src.rpm") or not _built(layout, rel):
        return False
    try:
        return read_identity(copy).sourcerpm == srpm_name
    except AltaiError:
        return False


def _repository_at(layout: ReleaseLayout, rel: str) -> str:
    """The repository of the layout whose directory holds the file `rel`."""
    return next(n for n, r in layout.repositories.items() if rel.rsplit("/", 1)[0] == r.path)


def _repository_of(layout: ReleaseLayout, srpm_rel: str) -> str:
    """The repository of built packages whose SRPMs are where this one is."""
    for name in built_repositories(layout):
        if srpm_rel.rsplit("/", 1)[0] == sources_path(layout, name):
            return name
    raise InputError(f"{srpm_rel}: in no sources repository of the layout")


def _differing_tags(published: Path, rebuilt: Path) -> list[str]:
    """The main header's tags that differ (signature tags, below 1000, aside), by name; the payload's files
    named when their digests differ."""
    from altai_release.rpm.rpmbindings import rpm_bindings

    rpm = rpm_bindings()
    a, b = read_header(published), read_header(rebuilt)
    tags = sorted(t for t in set(a.keys()) | set(b.keys()) if int(t) >= 1000)
    differing = [rpm.tagnames.get(int(t), str(t)).lower() for t in tags if a[t] != b[t]]
    if {"filedigests", "filemd5s"} & set(differing):  # rpm names the tag FILEMD5S, its older alias
        files = [f for f, x, y in zip(a["filenames"], a["filedigests"], b["filedigests"], strict=False) if x != y]
        differing.append("files " + ", ".join(str(f) for f in files[:5]))
    return differing
