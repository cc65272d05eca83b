"""`--verify`'s checks of what a release tree holds, before anything is rebuilt. The tree is somebody's input:
every file is copied out of it as a regular file reached without a link (`beneath`), within the layout's
file-size bound, and only the copy is read; a file that is malformed, a link, a FIFO or too large is a FAIL
naming it, and the checks go on.

- metadata: every repository's repomd.xml has a good `repomd.xml.asc` by the tree's metadata key, and every
  file repomd.xml lists has its checksum;
- integrity: every package is listed by its repository's metadata with its checksum, verifies against the
  RPM-GPG-KEY-* the tree publishes for its repository, and agrees with manifest.json;
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
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest, ManifestEntry
from altai_release.rpm.readback import read_facts
from altai_release.rpm.rpmheader import read_identity
from altai_release.sandbox.beneath import Unsafe, copy_out, entries, read_bytes
from altai_release.signing.signature_check import KeyDatabases, detached_verdict, signature_verdicts

METADATA_LIMIT = 256 * 1024 * 1024  # one file of a repository's metadata


@dataclass(frozen=True)
class Verdict:
    path: str  # relative to the release
    verdict: str  # reproduced, differs: …, no source, bad signature: …, signed (upstream), …
    ok: bool


@dataclass
class TreeFiles:
    """The tree's files as this check reads them: copies under `work`, each taken once."""

    tree: Path
    work: Path
    limit: int  # bytes of one package
    copies: dict[str, Path] = field(default_factory=dict)

    def copy(self, rel: str, limit: int | None = None) -> Path:
        if rel not in self.copies:
            target = self.work / "copies" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            self.copies[rel] = copy_out(self.tree, rel, target, limit or self.limit)
        return self.copies[rel]

    def read(self, rel: str, limit: int) -> bytes:
        return read_bytes(self.tree, rel, limit)


def built_repositories(layout: ReleaseLayout) -> list[str]:
    return [name for name, repo in layout.repositories.items() if repo.content in ("own", "rebuilt")]


def sources_path(layout: ReleaseLayout, repository: str) -> str:
    """Where the SRPMs of a repository's packages are: its sources repository, else beside them."""
    return layout.repositories[layout.repository_for(repository, "src")].path


@dataclass
class TreeCheck:
    """What the checks found: verdicts of failures, and the packages that passed them (as copies)."""

    layout: ReleaseLayout
    files: TreeFiles
    manifest: Manifest
    databases: KeyDatabases
    failed: list[Verdict] = field(default_factory=list)
    passed: dict[str, Path] = field(default_factory=dict)  # release path -> its copy
    statements: list[str] = field(default_factory=list)  # provenance statements that passed

    def fail(self, rel: str, why: str) -> None:
        self.failed.append(Verdict(rel, why, False))

    def run(self) -> None:
        entries_by_path = {e.path: e for e in self.manifest.entries}
        for name, repo in self.layout.repositories.items():
            self._repository(name, repo.path, repo.signed_by, entries_by_path)
        for rel, entry in entries_by_path.items():
            known = entry.repository in self.layout.repositories and rel not in self.passed
            if known and not any(v.path == rel for v in self.failed):
                self.fail(rel, f"in {MANIFEST_NAME} but missing from the tree")
        self._completeness()
        from altai_release.release.attestation_check import check_attestations

        self.statements = check_attestations(self.layout, self.files, self.manifest, self.fail)

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

    def _repository(self, name: str, path: str, signed_by: str, listed: dict[str, ManifestEntry]) -> None:
        packages = self._packages_of(path)
        if packages is None:
            return
        metadata = self._metadata(path)
        if not packages:
            return
        key = self._key(f"RPM-GPG-KEY-{signed_by}")
        copies: dict[str, Path] = {}
        for rel in packages.values():
            try:
                copies[rel] = self.files.copy(rel)
            except (Unsafe, OSError) as exc:
                self.fail(rel, f"cannot be read: {exc}")
        verdicts = signature_verdicts(self.databases, key, list(copies.values())) if key and copies else {}
        for rel, copy in copies.items():
            why = self._package(name, rel, copy, metadata, key, verdicts, listed.get(rel))
            if why is None:
                self.passed[rel] = copy
            else:
                self.fail(rel, why)

    def _package(
        self,
        repository: str,
        rel: str,
        copy: Path,
        metadata: dict[str, object] | None,
        key: bytes | None,
        verdicts: dict[str, str],
        entry: ManifestEntry | None,
    ) -> str | None:
        """Why the package fails its checks, or None."""
        pkg = (metadata or {}).get(copy.name)
        if pkg is None:
            return f"not in the metadata of repository {repository}"
        if file_digest(copy, pkg.checksum_type) != pkg.pkgId:  # type: ignore[attr-defined]
            return f"checksum differs from repository {repository}'s metadata"
        if key is None:
            return f"no key: the tree has no RPM-GPG-KEY-{self.layout.repositories[repository].signed_by}"
        if "signatures OK" not in verdicts.get(str(copy), ""):
            return f"bad signature ({verdicts.get(str(copy)) or 'not checked'})"
        if entry is None:
            return f"not in {MANIFEST_NAME}"
        try:
            facts = read_facts(copy)
        except AltaiError as exc:
            return f"not a readable package: {exc}"
        if facts.sha256 != entry.sha256 or facts.nevra != entry.nevra or entry.repository != repository:
            return f"does not agree with {MANIFEST_NAME} (sha256, NEVRA or repository)"
        return None

    def _key(self, name: str) -> bytes | None:
        try:
            return self.files.read(name, KEY_FILE_LIMIT)
        except (Unsafe, OSError):
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
        signer = self.layout.metadata_signer.name
        key = self._key(f"RPM-GPG-KEY-{signer}")
        if key is None:
            self.fail(repomd, f"no key to check it: the tree has no RPM-GPG-KEY-{signer}")
            return
        try:
            signature = self.files.copy(f"{repomd}.asc", 1 << 20)
        except FileNotFoundError:
            self.fail(repomd, "not signed: no repomd.xml.asc")
            return
        except (Unsafe, OSError) as exc:
            self.fail(f"{repomd}.asc", f"cannot be read: {exc}")
            return
        why = detached_verdict(key, copy, signature, self.files.work / "metadata-key" / signer)
        if why is not None:
            self.fail(repomd, f"bad signature by {signer}'s key (repomd.xml.asc: {why})")

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


def check_tree(layout: ReleaseLayout, files: TreeFiles, manifest: Manifest, databases: KeyDatabases) -> TreeCheck:
    check = TreeCheck(layout, files, manifest, databases)
    check.run()
    return check
