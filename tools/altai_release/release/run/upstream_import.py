"""Third-party packages pinned by the layout, imported from upstream yum repositories as they are: read the
upstream repodata, download only what is pinned, check each file against the checksum of the metadata
and its signature against the upstream key, and hand the verified files to the release."""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import createrepo_c as cr

from altai_release.core.download import fetch
from altai_release.core.errors import AltaiError, UpstreamError, VerificationError
from altai_release.core.hashing import file_digest
from altai_release.core.limits import DownloadLimits
from altai_release.core.userfiles import KEY_FILE_LIMIT, read_bytes
from altai_release.layout import ReleaseLayout, Upstream
from altai_release.release.publish.policy import NewFile
from altai_release.rpm.evr import highest
from altai_release.rpm.nevra import Nevra
from altai_release.signing.signature_check import KeyDatabases, verify_packages

log = logging.getLogger(__name__)


def _checksum(path: Path, kind: str) -> str:
    try:
        return file_digest(path, kind)
    except ValueError as exc:
        raise VerificationError(f"{path.name}: checksum type {kind!r} is not one we can check") from exc


@dataclass(frozen=True)
class UpstreamPackage:
    nevra: Nevra
    location: str
    checksum_type: str
    checksum: str


def _nevra(pkg: cr.Package) -> Nevra:
    epoch = int(pkg.epoch) if pkg.epoch not in (None, "", "0") else None
    return Nevra(pkg.name, epoch, pkg.version, pkg.release, pkg.arch)


class Importer:
    def __init__(self, upstream: Upstream, public_key: bytes, workdir: Path, limits: DownloadLimits) -> None:
        self.limits = limits
        self.upstream = upstream
        self.public_key = public_key
        self.workdir = workdir
        self.base = upstream.url.rstrip("/") + "/"

    def _metadata(self) -> list[UpstreamPackage]:
        meta = self.workdir / "meta"
        (meta / "repodata").mkdir(parents=True, exist_ok=True)
        what = f"upstream {self.upstream.name!r}"
        fetch(self.base + "repodata/repomd.xml", meta / "repodata" / "repomd.xml", what, self.limits)
        try:
            repomd = cr.Repomd(str(meta / "repodata" / "repomd.xml"))
            records = {rec.type: rec for rec in repomd.records}
        except cr.CreaterepoCError as exc:
            raise UpstreamError(f"{what}: {self.base}repodata/repomd.xml is not repository metadata: {exc}") from exc
        for kind in ("primary", "filelists", "other"):
            if kind in records:
                href = records[kind].location_href
                local = meta / href
                local.parent.mkdir(parents=True, exist_ok=True)
                fetch(urllib.parse.urljoin(self.base, href), local, what, self.limits)
                if _checksum(local, records[kind].checksum_type) != records[kind].checksum:
                    raise VerificationError(f"{what}: {href} does not match the checksum in repomd.xml")
        try:
            reader = cr.RepositoryReader.from_path(str(meta), warningcb=lambda *_: True)
            return [
                UpstreamPackage(_nevra(p), p.location_href, p.checksum_type, p.pkgId)
                for p in reader.iter_packages()
                if p.arch != "src"
            ]
        except (cr.CreaterepoCError, OSError, KeyError) as exc:
            raise UpstreamError(f"{what}: unreadable metadata at {self.base}: {exc}") from exc

    def select(self, available: list[UpstreamPackage]) -> list[UpstreamPackage]:
        chosen: list[UpstreamPackage] = []
        for pin in self.upstream.pins:
            matching = [p for p in available if pin.matches(p.nevra)]
            newest = highest(matching, lambda p: p.nevra)
            if newest is None:
                raise UpstreamError(f"upstream {self.upstream.name!r}: no package {str(pin)!r} at {self.base}")
            chosen += [p for p in matching if p.nevra.compare_evr(newest.nevra) == 0]  # every arch of it
        return chosen

    def fetch(self) -> list[NewFile]:
        """Download and verify every pinned package; raises before returning anything on any fault."""
        chosen = self.select(self._metadata())
        files: list[NewFile] = []
        downloads = self.workdir / "packages"
        downloads.mkdir(parents=True, exist_ok=True)
        for pkg in chosen:
            name = Path(urllib.parse.urlsplit(pkg.location).path).name
            if not name.endswith(".rpm") or name.startswith("."):
                raise UpstreamError(f"upstream {self.upstream.name!r}: odd package location {pkg.location!r}")
            local = downloads / name
            fetch(urllib.parse.urljoin(self.base, pkg.location), local, f"upstream {self.upstream.name!r}", self.limits)
            if _checksum(local, pkg.checksum_type) != pkg.checksum:
                raise VerificationError(
                    f"upstream {self.upstream.name!r}: {name} does not match the "
                    f"{pkg.checksum_type} checksum of the upstream metadata"
                )
            try:
                verify_packages(KeyDatabases(self.workdir / "rpmdb"), self.public_key, [local])
            except AltaiError as exc:
                raise VerificationError(
                    f"upstream {self.upstream.name!r}: {name} is not signed by key {self.upstream.key!r}: {exc}"
                ) from exc
            allowed = next((p.evr for p in self.upstream.allow_downgrade if p.name == pkg.nevra.name), None)
            files.append(
                NewFile(
                    local,
                    self.upstream.repository,
                    f"upstream:{self.upstream.name}",
                    self.upstream.key,
                    allowed,
                    self.upstream.downgrade_reason,
                )
            )
        return files


def import_upstreams(layout: ReleaseLayout, workdir: Path) -> list[NewFile]:
    """Every upstream pin of the layout, downloaded and verified (the release job's imports)."""
    additions: list[NewFile] = []
    for upstream in layout.upstreams.values():
        log.info("importing %s from %s", ", ".join(map(str, upstream.pins)), upstream.url)
        key = layout.keys[upstream.key]
        assert key.file is not None  # the layout checked it
        public_key = read_bytes(key.file, "public key file", KEY_FILE_LIMIT)
        additions += Importer(upstream, public_key, workdir / upstream.name, layout.downloads).fetch()
    return additions
