"""Repository metadata with createrepo_c's Python API. gzip-compressed and SHA-256, which EL6's yum reads.
Incremental: a package whose file did not change since the previous release keeps its parsed metadata
(read back from the previous repodata) instead of being opened and parsed again."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import createrepo_c as cr

from altai_release.core.errors import AltaiError


class RepodataError(AltaiError):
    pass


def _quiet(_kind: int, _message: str) -> bool:
    return True


def read_packages(repo_dir: Path) -> dict[str, cr.Package]:
    """The packages of a repository's metadata, by location_href; empty when it has none."""
    if not (repo_dir / "repodata" / "repomd.xml").exists():
        return {}
    try:
        reader = cr.RepositoryReader.from_path(str(repo_dir), warningcb=_quiet)
        return {pkg.location_href: pkg for pkg in reader.iter_packages()}
    except (cr.CreaterepoCError, OSError, KeyError) as exc:
        raise RepodataError(f"{repo_dir}: unreadable repodata: {exc}") from exc


def repomd_records(repomd: Path) -> list[tuple[str, str, str]]:
    """(location_href, checksum type, checksum) of every file a repomd.xml lists; a malformed one raises."""
    try:
        parsed = cr.Repomd(str(repomd))
    except (cr.CreaterepoCError, OSError) as exc:
        raise RepodataError(f"{repomd.name}: unreadable: {exc}") from exc
    records = []
    for record in parsed.records:
        href = str(record.location_href or "")
        if not href.startswith("repodata/") or ".." in href.split("/") or not record.checksum:
            raise RepodataError(f"{repomd.name}: lists {href!r}, not a file of repodata/")
        records.append((href, str(record.checksum_type), str(record.checksum)))
    return records


def write_repodata(repo_dir: Path, reusable: Mapping[str, cr.Package], revision: int) -> int:
    """(Re)write repo_dir/repodata for the *.rpm files in repo_dir. `reusable` maps a file name to its
    metadata from a previous run, valid only for the very same file (the caller checks the checksum).
    Returns how many packages were parsed anew."""
    files = sorted(p.name for p in repo_dir.iterdir() if p.name.endswith(".rpm") and p.is_file())
    parsed = 0
    try:
        with cr.RepositoryWriter(
            str(repo_dir),
            num_packages=len(files),
            compression=cr.GZ_COMPRESSION,
            checksum_type=cr.SHA256,
            changelog_limit=10,
        ) as writer:
            writer.repomd.set_revision(str(revision))
            for name in files:
                pkg = reusable.get(name)
                if pkg is None:
                    pkg = cr.package_from_rpm(
                        str(repo_dir / name), checksum_type=cr.SHA256, location_href=name, changelog_limit=10
                    )
                    parsed += 1
                writer.add_pkg(pkg)
    except (cr.CreaterepoCError, OSError) as exc:
        raise RepodataError(f"{repo_dir}: createrepo_c failed: {exc}") from exc
    # RepositoryWriter leaves metadata files of earlier runs in place; keep only what repomd names
    named = {Path(rec.location_href).name for rec in cr.Repomd(str(repo_dir / "repodata" / "repomd.xml")).records}
    for stale in (repo_dir / "repodata").iterdir():
        if stale.name != "repomd.xml" and stale.name not in named:
            os.unlink(stale)
    return parsed
