"""Key rotation: every package of a repository we sign carries the key the layout assigns to it now.

When a run signs with another key than the one that signed the packages it keeps (a rotated release key,
a regenerated development key, `--sign-key`), the kept packages of that key are re-signed with it, so
that `RPM-GPG-KEY-<key>` verifies every package that names it. Re-signing changes only the signature
header: the NEVRA and the unsigned header stay, so the release's immutability rule holds."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from altai_release.release.publish.policy import NewFile
from altai_release.rpm.manifest import Manifest, ManifestEntry
from altai_release.signing.assignment import SigningIdentity, sign_packages
from altai_release.signing.signature_check import KeyDatabases, verify_packages

log = logging.getLogger(__name__)


def key_id(identity: SigningIdentity) -> str:
    """The 16-hex-digit key id that rpm shows for a signature made with this identity."""
    return identity.fingerprint[-16:].lower()


def stale_entries(kept: Iterable[ManifestEntry], identities: Mapping[str, SigningIdentity]) -> list[ManifestEntry]:
    """Kept entries whose layout key signs this run with another key than the one that signed them."""
    return [e for e in kept if e.signer in identities and e.signer_keyid.lower() != key_id(identities[e.signer])]


def resign(
    entries: list[ManifestEntry],
    release_dir: Path,
    identities: Mapping[str, SigningIdentity],
    public_keys: Mapping[str, bytes],
    databases: KeyDatabases,
    workdir: Path,
) -> list[NewFile]:
    """Copies of the entries' files signed with their key's current identity and verified against it."""
    added: list[NewFile] = []
    for key_name in sorted({e.signer for e in entries}):
        identity = identities[key_name]
        group = [e for e in entries if e.signer == key_name]
        log.info(
            "re-signing %d published package(s) of key %r with %s: they carry another key's signature",
            len(group),
            key_name,
            identity.description,
        )
        files = []
        for entry in group:
            copy = workdir / entry.repository / Path(entry.path).name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(release_dir / entry.path, copy)
            files.append(copy)
        sign_packages(identity, files)
        verify_packages(databases, public_keys[key_name], files)
        added += [
            NewFile(
                f,
                e.repository,
                e.origin,
                e.signer,
                source=e.source,
                build=e.build,
                build_root=e.build_root,
                rebuilt_for=e.rebuilt_for,
            )
            for f, e in zip(files, group, strict=True)
        ]
    return added


def resign_kept(
    *,
    manifest: Manifest | None,
    release_dir: Path | None,
    kept: Callable[[ManifestEntry], bool],
    identities: Mapping[str, SigningIdentity],
    public_keys: Mapping[str, bytes],
    databases: KeyDatabases,
    workdir: Path,
) -> list[NewFile]:
    """The entries the next release keeps from the current one (`kept`) whose layout key signs this run with
    another key, re-signed; nothing when there is no current release or nothing is stale."""
    if manifest is None or release_dir is None:
        return []
    stale = stale_entries([e for e in manifest.entries if kept(e)], identities)
    return resign(stale, release_dir, identities, public_keys, databases, workdir) if stale else []
