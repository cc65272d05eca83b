"""`--verify`'s checks of what a release tree holds, before anything is rebuilt, against the keys the check
pins (`signing.trust`), never the tree's own. A file that is malformed, a link, a FIFO or too large is a FAIL
naming it, and the checks go on.

- keys: every `RPM-GPG-KEY-*` the release publishes holds the pinned key of its name, and no other;
- metadata: every repository's repomd.xml has a good `repomd.xml.asc` by the pinned metadata key, and every
  file repomd.xml lists has its checksum;
- integrity: every package is listed by its repository's metadata with its checksum, is signed by the pinned
  key of its repository, and agrees with manifest.json (its SHA-256, NEVRA, repository, key and key id);
  a manifest entry of a repository the layout does not define is a FAIL;
- completeness: every binary package of a repository we build has its SRPM in that repository's sources
  repository, and every published SRPM has its binaries."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

from altai_release.core.errors import AltaiError
from altai_release.core.hashing import file_digest
from altai_release.core.userfiles import KEY_FILE_LIMIT
from altai_release.layout import ReleaseLayout
from altai_release.release.check.treefiles import TreeFiles, Verdict, built_repositories, sources_path
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest, ManifestEntry
from altai_release.rpm.readback import read_facts
from altai_release.rpm.rpmheader import read_identity
from altai_release.sandbox.beneath import Unsafe, entries
from altai_release.signing.keyfiles import show_keys
from altai_release.signing.signature_check import KeyDatabases, detached_verdict, signature_verdicts
from altai_release.signing.trust import KeyPins, TrustedKey

METADATA_LIMIT = 256 * 1024 * 1024  # one file of a repository's metadata


@dataclass
class TreeCheck:
    """What the checks found: verdicts of failures, and the packages that passed them (as copies)."""

    layout: ReleaseLayout
    files: TreeFiles
    manifest: Manifest
    databases: KeyDatabases
    pins: KeyPins
    failed: list[Verdict] = field(default_factory=list)
    passed: dict[str, Path] = field(default_factory=dict)  # release path -> its copy
    statements: list[str] = field(default_factory=list)  # provenance statements that passed
    accounted: int = 0  # files SHA256SUMS accounted for

    def fail(self, rel: str, why: str) -> None:
        self.failed.append(Verdict(rel, why, False))

    def run(self) -> None:
        entries_by_path = {e.path: e for e in self.manifest.entries}
        self._key_files()
        for name, repo in self.layout.repositories.items():
            self._repository(name, repo.path, repo.signed_by, entries_by_path)
        for rel, entry in entries_by_path.items():
            if entry.repository not in self.layout.repositories:
                self.fail(rel, f"in repository {entry.repository!r}, which the layout does not define: not vouched for")
            elif rel not in self.passed and not any(v.path == rel for v in self.failed):
                self.fail(rel, f"in {MANIFEST_NAME} but missing from the tree")
        self._completeness()

    def key_names(self) -> list[str]:
        """The keys the release publishes: every key that signs a repository or a package of it."""
        used = {e.signer for e in self.manifest.entries if e.signer in self.layout.keys}
        used |= {r.signed_by for r in self.layout.repositories.values()}
        return sorted(used | {self.layout.metadata_signer.name})

    def _key_files(self) -> None:
        """Each published key file against its pinned key: the same keys, no other."""
        for name in self.key_names():
            rel = f"RPM-GPG-KEY-{name}"
            try:
                data = self.files.read(rel, KEY_FILE_LIMIT)
            except FileNotFoundError:
                if name == self.layout.metadata_signer.name or any(e.signer == name for e in self.manifest.entries):
                    self.fail(rel, "missing: hosts could not check the packages it signs")
                continue
            except (Unsafe, OSError) as exc:
                self.fail(rel, f"cannot be read: {exc}")
                continue
            trusted = self.pins.get(name)
            published = {b.fingerprint for b in show_keys(data, self.files.work / "keys")}
            others = sorted(published - set(trusted.fingerprints))
            if others or not published:
                held = ", ".join(others) if others else "no key gpg can read"
                self.fail(rel, f"holds {held}, not the pinned key {trusted}")

    def _repository(self, name: str, path: str, signed_by: str, listed: dict[str, ManifestEntry]) -> None:
        packages = self._packages_of(path)
        if packages is None:
            return
        metadata = self._metadata(path)
        if not packages:
            return
        trusted = self.pins.get(signed_by)
        copies: dict[str, Path] = {}
        for rel in packages.values():
            try:
                copies[rel] = self.files.copy(rel)
            except (Unsafe, OSError) as exc:
                self.fail(rel, f"cannot be read: {exc}")
        verdicts = signature_verdicts(self.databases, trusted.public_key, list(copies.values())) if copies else {}
        for rel, copy in copies.items():
            why = self._package(name, rel, copy, metadata, trusted, verdicts, listed.get(rel))
            if why is None:
                self.passed[rel] = copy
            else:
                self.fail(rel, why)

    def _packages_of(self, path: str) -> dict[str, str] | None:
        """name -> release path of every regular *.rpm of the directory; the others failed, unread."""
        try:
            listing = entries(self.files.tree, path)
        except (Unsafe, OSError) as exc:
            self.fail(path, f"the repository is not a directory of the tree: {exc}")
            return None
        if listing is None:
            return None
        found = {}
        for name, mode in sorted(listing.items()):
            if name.endswith(".rpm"):
                if stat.S_ISREG(mode):
                    found[name] = f"{path}/{name}"
                else:
                    self.fail(f"{path}/{name}", "not a regular file (a link, FIFO or device): not read")
        return found

    def _package(  # noqa: PLR0911 (one answer per check, in the order they run)
        self,
        repository: str,
        rel: str,
        copy: Path,
        metadata: dict[str, object] | None,
        trusted: TrustedKey,
        verdicts: dict[str, str],
        entry: ManifestEntry | None,
    ) -> str | None:
        """Why the package fails its checks, or None."""
        pkg = (metadata or {}).get(copy.name)
        if pkg is None:
            return f"not in the metadata of repository {repository}"
        if file_digest(copy, pkg.checksum_type) != pkg.pkgId:  # type: ignore[attr-defined]
            return f"checksum differs from repository {repository}'s metadata"
        try:
            facts = read_facts(copy)
        except AltaiError as exc:
            return f"not a readable package: {exc}"
        if "signatures OK" not in verdicts.get(str(copy), ""):
            by = f"key {facts.signer_keyid.upper()}" if facts.signer_keyid else "no key (unsigned)"
            return f"bad signature: signed by {by}, not by the pinned key {trusted}"
        if entry is None:
            return f"not in {MANIFEST_NAME}"
        if facts.sha256 != entry.sha256 or facts.nevra != entry.nevra or entry.repository != repository:
            return f"does not agree with {MANIFEST_NAME} (sha256, NEVRA or repository)"
        if entry.signer != trusted.name or entry.signer_keyid.upper() != facts.signer_keyid.upper():
            return (
                f"does not agree with {MANIFEST_NAME}: it says key {entry.signer} {entry.signer_keyid or '(none)'}, "
                f"the package is signed by {trusted.name} {facts.signer_keyid}"
            )
        return None

    def _metadata(self, path: str) -> dict[str, object] | None:
        """The packages of the repository's metadata by file name, once repomd.xml's signature and every
        listed file's checksum were checked (a failure is a FAIL, and the metadata is still read)."""
        from altai_release.rpm.repodata import (  # createrepo_c loads for a verification only
            read_packages,
            repomd_records,
        )

        repomd = f"{path}/repodata/repomd.xml"
        try:
            copy = self.files.copy(repomd, METADATA_LIMIT)
        except FileNotFoundError:
            self.fail(repomd, "missing: the repository has no metadata")
            return None
        except (Unsafe, OSError) as exc:
            self.fail(repomd, f"cannot be read: {exc}")
            return None
        self._signed(repomd, copy)
        try:
            for href, checksum_type, checksum in repomd_records(copy):
                self._listed_file(f"{path}/{href}", checksum_type, checksum)
            return dict(read_packages(copy.parent.parent))
        except (AltaiError, OSError) as exc:
            self.fail(repomd, f"unreadable metadata: {exc}")
            return None

    def _signed(self, repomd: str, copy: Path) -> None:
        trusted = self.pins.get(self.layout.metadata_signer.name)
        try:
            signature = self.files.copy(f"{repomd}.asc", 1 << 20)
        except FileNotFoundError:
            self.fail(repomd, "not signed: no repomd.xml.asc")
            return
        except (Unsafe, OSError) as exc:
            self.fail(f"{repomd}.asc", f"cannot be read: {exc}")
            return
        why = detached_verdict(trusted.public_key, copy, signature, self.files.work / "metadata-key" / trusted.name)
        if why is not None:
            self.fail(repomd, f"bad signature: not by the pinned key {trusted} (repomd.xml.asc: {why})")

    def _listed_file(self, rel: str, checksum_type: str, checksum: str) -> None:
        try:
            copy = self.files.copy(rel, METADATA_LIMIT)
        except (Unsafe, OSError) as exc:
            self.fail(rel, f"listed by repomd.xml but cannot be read: {exc}")
            return
        if file_digest(copy, checksum_type) != checksum:
            self.fail(rel, "checksum differs from repomd.xml's")

    def _completeness(self) -> None:
        for name in built_repositories(self.layout):
            repo = self.layout.repositories[name]
            sources = sources_path(self.layout, name)
            srpms = {Path(r).name for r in self.passed if r.startswith(f"{sources}/") and r.endswith(".src.rpm")}
            named = set()
            for rel, copy in sorted(self.passed.items()):
                if rel.startswith(f"{repo.path}/") and "/" not in rel[len(repo.path) + 1 :]:
                    if rel.endswith(".src.rpm"):
                        continue
                    source = read_identity(copy).sourcerpm
                    named.add(source)
                    if source not in srpms:
                        self.fail(rel, f"no source: {source} is not in {Path(sources).name}/ (or fails its checks)")
            for srpm in sorted(srpms - named):
                self.fail(f"{sources}/{srpm}", "no binary package of it published")


def check_tree(
    layout: ReleaseLayout, files: TreeFiles, manifest: Manifest, databases: KeyDatabases, pins: KeyPins
) -> TreeCheck:
    """Every check of the tree before anything is rebuilt: its keys, metadata, packages and their
    completeness, its attestations (`attestation_check`), and every file accounted for (`checksums`)."""
    from altai_release.release.check.attestation_check import check_attestations
    from altai_release.release.publish.checksums import check_checksums

    check = TreeCheck(layout, files, manifest, databases, pins)
    check.run()
    metadata_key = pins.get(layout.metadata_signer.name)
    check.statements = check_attestations(layout, files, manifest, metadata_key, check.fail)
    check.accounted = check_checksums(files.tree, files.work, layout, metadata_key.public_key, check.fail)
    return check
