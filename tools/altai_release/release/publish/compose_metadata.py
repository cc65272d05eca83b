"""Compose metadata beside manifest.json (which stays the source of truth): `metadata/composeinfo.json` and
`metadata/rpms.json` in productmd's format, the metadata pungi writes and compose tools read (variant →
arch → SRPM NEVRA → RPM NEVRA → path, sigkey, category), written and read back with productmd itself.

Each binary repository of the layout is a variant; its SRPMs are mapped under it, as productmd wants
sources mapped under binary arches. The compose id is productmd's `NAME-VERSION-DATE.RESPIN`, the respin
being the release's time of day (HHMMSS) so that two releases of one version and day stay apart."""

from __future__ import annotations

import os
from pathlib import Path

from altai_release.core.paths import METADATA_DIR
from altai_release.layout import ReleaseLayout
from altai_release.rpm.manifest import Manifest, ManifestEntry
from altai_release.rpm.rpmheader import read_identity

_ARCHES = ("x86_64", "i686", "i386", "aarch64", "ppc64le", "ppc64", "s390x", "armv7hl")


def tree_arches(manifest: Manifest, chroot: str) -> list[str]:
    """The architectures the release's trees are for, from its packages (noarch and SRPMs map under each);
    a release of noarch packages only is for the arch its layout builds for (the mock chroot's, e.g.
    epel-6-x86_64), else this machine's."""
    built = sorted({e.arch for e in manifest.entries if e.arch not in ("noarch", "src")})
    if built:
        return built
    tail = chroot.rsplit("-", 1)[-1]
    return [tail if tail in _ARCHES else os.uname().machine]


def _nevra(entry: ManifestEntry) -> str:
    return f"{entry.name}-{entry.epoch or 0}:{entry.version}-{entry.release}.{entry.arch}"


def _source_nevra(target: Path, entry: ManifestEntry, by_file: dict[str, ManifestEntry]) -> str:
    """The NEVRA of a binary package's SRPM: the published SRPM's when the release holds it, else (an
    upstream package) read from its SOURCERPM, with the binary's epoch."""
    sourcerpm = read_identity(target / entry.path).sourcerpm
    published = by_file.get(sourcerpm)
    if published is not None:
        return _nevra(published)
    name, version, release = sourcerpm.removesuffix(".src.rpm").rsplit("-", 2)
    return f"{name}-{entry.epoch or 0}:{version}-{release}.src"


def write_compose_metadata(target: Path, layout: ReleaseLayout, manifest: Manifest) -> None:
    from productmd.composeinfo import ComposeInfo, Variant
    from productmd.rpms import Rpms

    published = manifest.published or "1970-01-01T00:00:00Z"
    date, time_of_day = published[:10].replace("-", ""), int(published[11:19].replace(":", "") or 0)
    info = ComposeInfo()
    info.release.name, info.release.short = layout.name.capitalize(), layout.name
    info.release.version, info.release.type = layout.version, "ga"
    info.compose.date, info.compose.type, info.compose.respin = date, "production", time_of_day
    info.compose.id = info.create_compose_id()
    arches = tree_arches(manifest, layout.mock_chroot)
    variant_of: dict[str, str] = {}  # repository -> the variant it belongs to (SRPMs: their binaries')
    for name, repo in layout.repositories.items():
        if repo.content == "sources":
            continue
        variant = Variant(info)
        # productmd's variant ids are letters and digits only (centos6-updates -> centos6updates)
        variant.id = variant.uid = "".join(c for c in name if c.isalnum())
        variant.name = name
        variant.type = "variant"
        variant.arches = set(arches)
        for arch in arches:
            variant.paths.repository[arch] = variant.paths.packages[arch] = repo.path
            if repo.sources:
                sources = layout.repositories[repo.sources].path
                variant.paths.source_repository[arch] = variant.paths.source_packages[arch] = sources
        variant_of[name] = variant.uid
        if repo.sources:
            variant_of[repo.sources] = variant.uid
        info.variants.add(variant)
    rpms = Rpms()
    rpms.compose.id, rpms.compose.type = info.compose.id, info.compose.type
    rpms.compose.date, rpms.compose.respin = info.compose.date, info.compose.respin
    by_file = {Path(e.path).name: e for e in manifest.entries if e.arch == "src"}
    for entry in sorted(manifest.entries, key=lambda e: e.path):
        variant_name = variant_of.get(entry.repository)
        if variant_name is None:
            continue
        sigkey = entry.signer_keyid[-8:].lower() or None
        under = [entry.arch] if entry.arch in arches else arches
        if entry.arch == "src":
            for arch in under:
                rpms.add(variant_name, arch, _nevra(entry), entry.path, sigkey, "source")
        else:
            category = "debug" if entry.name.endswith(("-debuginfo", "-debugsource")) else "binary"
            source = _source_nevra(target, entry, by_file)
            for arch in under:
                rpms.add(variant_name, arch, _nevra(entry), entry.path, sigkey, category, source)
    (target / METADATA_DIR).mkdir(exist_ok=True)
    info.dump(str(target / METADATA_DIR / "composeinfo.json"))
    rpms.dump(str(target / METADATA_DIR / "rpms.json"))
