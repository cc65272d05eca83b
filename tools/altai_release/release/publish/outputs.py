"""The files of a release besides its packages: createrepo_c metadata for every repository, the public
keys, `altai.repo` for the installer, `manifest.json`, the build logs of our packages (`logs/<package>/`)
and the release notes."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import time
from collections.abc import Mapping
from pathlib import Path

from altai_release.core.errors import InputError, PublishError
from altai_release.layout import ReleaseLayout
from altai_release.release.publish.store import link_or_copy
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest

logger = logging.getLogger(__name__)

# goes into an INI file line by line: a newline would let the URL write sections of its own
_BASE_URL = re.compile(r"^(https?|ftp|file)://[^\s\x00-\x1f\x7f]+$")


def check_base_url(base_url: str | None) -> None:
    """Refuse a --base-url that altai.repo cannot hold; called before anything is built."""
    if base_url is not None and not _BASE_URL.match(base_url):
        raise InputError(
            f"--base-url {base_url!r}: expected an http(s)://, ftp:// or file:// URL without spaces or control "
            "characters"
        )


def _check_kept(path: Path, sha256: str) -> None:
    """A package the new release keeps from the current one is still the file its manifest describes: a
    regular file (never a link to follow) with the manifest's SHA-256."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise PublishError(
            f"{path}: the published package is {'a link' if path.is_symlink() else exc.strerror}, "
            "not the file its manifest describes; nothing was published"
        ) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PublishError(f"{path}: the published package is not a regular file; nothing was published")
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != sha256:
        raise PublishError(
            f"{path}: the published package changed since it was published (sha256 {digest}, the "
            f"manifest says {sha256}); nothing was published"
        )


def write_release(
    target: Path,
    layout: ReleaseLayout,
    *,
    manifest: Manifest,
    new_files: Mapping[str, Path],
    previous: Manifest,
    previous_dir: Path | None,
    public_keys: Mapping[str, bytes],
    repo_text: str,
    built_logs: Mapping[str, Path],
) -> None:
    """Fill the empty directory `target` with the release: packages (new files, or hard links to the
    previous release's), keys, repodata, manifest, altai.repo, build logs (`built_logs`: the log directory
    of each package built by this run) and the release notes against `previous`."""
    from altai_release.release.attest.provenance import statement_names
    from altai_release.release.attest.sbom import sbom_name, write_sbom  # cyclonedx-python-lib too
    from altai_release.release.publish.compose_metadata import write_compose_metadata  # productmd too
    from altai_release.release.publish.notes import (
        write_notes,  # createrepo_c and the notes load when a release is written
    )
    from altai_release.rpm.repodata import read_packages, write_repodata

    for repo in layout.repositories.values():
        (target / repo.path).mkdir(parents=True, exist_ok=True)
    for entry in manifest.entries:
        origin = new_files.get(entry.path) or (previous_dir / entry.path if previous_dir else None)
        if origin is None or not (origin.exists() or origin.is_symlink()):
            raise PublishError(f"{entry.path} is in the release but its file is missing from {previous_dir}")
        if entry.path not in new_files:
            _check_kept(origin, entry.sha256)
        link_or_copy(origin, target / entry.path)
    _write_keys(target, layout, manifest, previous_dir, public_keys)
    revision = int(time.time())
    unchanged = {e.path for e in manifest.entries if e.path not in new_files}
    for repo in layout.repositories.values():
        reusable = {}
        if previous_dir is not None:
            for href, pkg in read_packages(previous_dir / repo.path).items():
                if f"{repo.path}/{href}" in unchanged:
                    reusable[href] = pkg
        write_repodata(target / repo.path, reusable, revision)
    _write_logs(target, manifest, previous_dir, built_logs)
    manifest.id, manifest.published = target.name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # the statements are signed when the tree is sealed (pipeline), under these names
    own = layout.for_release(manifest.release, manifest.version)  # the SBOM is named as the release is
    manifest.attestations = {"sbom": sbom_name(own), "provenance": statement_names(layout, manifest)}
    (target / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    (target / "altai.repo").write_text(repo_text, encoding="utf-8")
    write_compose_metadata(target, layout, manifest)
    write_sbom(target, own, manifest)
    write_notes(layout, manifest, previous, target, previous_dir)


def _write_logs(target: Path, manifest: Manifest, previous_dir: Path | None, built_logs: Mapping[str, Path]) -> None:
    """logs/<package>/ for each of our packages: copied from this run's build (the store's log directory is
    rewritten by the next build), hard links to the previous release's for the others (regular files only:
    a link or a FIFO in the published tree is not carried forward)."""
    for origin in sorted({e.origin for e in manifest.entries if not e.origin.startswith("upstream:")}):
        built = built_logs.get(origin)
        source = built if built is not None else (previous_dir / "logs" / origin if previous_dir else None)
        if source is None or not source.is_dir():
            continue
        for log in sorted(source.iterdir()):
            if log.is_symlink() or not log.is_file():  # a link in a tree is somebody's: never followed
                logger.warning("%s: a link or not a file: not carried into the new release", log)
                continue
            (target / "logs" / origin).mkdir(parents=True, exist_ok=True)
            if built is not None:
                shutil.copyfile(log, target / "logs" / origin / log.name)
            else:
                link_or_copy(log, target / "logs" / origin / log.name)


def _write_keys(
    target: Path,
    layout: ReleaseLayout,
    manifest: Manifest,
    previous_dir: Path | None,
    public_keys: Mapping[str, bytes],
) -> None:
    """RPM-GPG-KEY-<key> for every key that signs a repository or a package of the release."""
    used_keys = {e.signer for e in manifest.entries} | {r.signed_by for r in layout.repositories.values()}
    used_keys.add(layout.metadata_signer.name)  # it signs every repository's repomd.xml
    for key in sorted(used_keys):
        name = f"RPM-GPG-KEY-{key}"
        key_file = layout.keys[key].file if key in layout.keys else None
        if key in public_keys:
            (target / name).write_bytes(public_keys[key])
        elif key_file is not None:
            shutil.copyfile(key_file, target / name)
        elif previous_dir is not None and (previous_dir / name).exists():
            link_or_copy(previous_dir / name, target / name)
        elif any(e.signer == key for e in manifest.entries):
            raise PublishError(f"no public key for {key!r}, which signed packages of this release")
