"""A third-party package rebuilt from its source RPM: fetched once into a content-addressed cache, checked
against the layout's SHA-256 and, with `key`, its signature against that key's public file — before anything
runs. Its spec is read (in the sandbox, like every spec) from the SRPM's payload with the layout's dist. An
SRPM of that dist is what the builders rebuild and what deps/misc-srpms republishes with the team's
signature; an SRPM of another dist is first made anew from its own spec and sources under the layout's dist
(as mock does), and that SRPM is the one built and published. The manifest keeps the upstream URL and
SHA-256 either way."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from altai_release.core.errors import InputError, SigningError, VerificationError
from altai_release.core.userfiles import KEY_FILE_LIMIT, read_bytes
from altai_release.layout import PackageEntry, ReleaseLayout
from altai_release.rpm.readback import PackageFacts, payload_files, read_facts, read_header
from altai_release.signing.signature_check import KeyDatabases, verify_packages
from altai_release.specfile.spec import read_spec

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from altai_release.core.limits import SandboxLimits
    from altai_release.sources.srpm_from_git import SrpmResult


@dataclass
class SrpmPackageSource:
    entry: PackageEntry
    file: Path  # the verified SRPM in the download cache
    facts: PackageFacts
    signer_keyid: str  # the upstream signature's key id when the layout asked for one, else ""

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def url(self) -> str:
        assert self.entry.srpm is not None
        return self.entry.srpm.url

    @property
    def description(self) -> str:
        return f"{self.url} (sha256 {self.facts.sha256[:12]})"

    @property
    def making(self) -> str:
        return "taking the source RPM"

    @property
    def provenance(self) -> dict[str, str]:
        return {"kind": "srpm", "url": self.url, "sha256": self.facts.sha256, "signer_keyid": self.signer_keyid}

    @classmethod
    def resolve(cls, entry: PackageEntry, layout: ReleaseLayout, workdir: Path, downloads: Path) -> SrpmPackageSource:
        origin = entry.srpm
        assert origin is not None  # an SRPM package
        what = f"{entry.name}: source RPM"
        from altai_release.core.download import fetch_verified  # urllib loads only for a run with an SRPM package

        file = fetch_verified(origin.url, origin.sha256, downloads, what, layout.downloads)
        facts = read_facts(file)
        if facts.nevra.arch != "src":
            raise InputError(f"{what} {origin.url} is a binary package ({facts.nevra}), not a source RPM")
        signer = ""
        if origin.key is not None:
            key_file = layout.keys[origin.key].file
            assert key_file is not None  # the layout checked it
            try:
                public_key = read_bytes(key_file, "public key file", KEY_FILE_LIMIT)
                verify_packages(KeyDatabases(workdir / "rpmdb"), public_key, [file])
            except SigningError as exc:
                raise VerificationError(f"{what} {origin.url} is not signed by key {origin.key!r}: {exc}") from exc
            signer = facts.signer_keyid
        return cls(entry, file, facts, signer)

    def material(self, named: Sequence[str]) -> Mapping[str, object]:
        return {"srpm_sha256": self.facts.sha256}

    def make_srpm(self, outdir: Path, macro_files: Sequence[Path], limits: SandboxLimits) -> SrpmResult:
        """The SRPM the binaries are built from: the upstream one as it is when its spec, read with the
        layout's dist, names that very package; else (an SRPM of another dist: .fc18, .el7) the upstream's
        spec and sources made into the SRPM of the layout's dist in the sandbox, as mock does before it
        builds. The binaries then name it (SOURCERPM), and deps/misc-srpms publishes it."""
        from altai_release.sources.srpm_from_git import SrpmResult
        from altai_release.sources.srpm_session import srpm_from_files

        outdir.mkdir(parents=True, exist_ok=True)
        spec_name, files = self._payload(limits.file_size)
        defines = [("dist", self.entry.dist)] if self.entry.dist else []
        shown = f"{self.url}: {spec_name}"
        spec_dir = outdir / "spec"
        spec_dir.mkdir()
        (spec_dir / spec_name).write_bytes(files[spec_name])
        info = read_spec(spec_dir / spec_name, defines, macro_files, display_name=shown, limits=limits)
        buildtime = int(read_header(self.file)["buildtime"] or 0)
        if info.source_nevra == self.facts.nevra:
            srpm = outdir / f"{self.facts.nevra}.rpm"
            shutil.copyfile(self.file, srpm)
            return SrpmResult(srpm, None, self.facts.nevra, "", info, buildtime)
        made_as = info.source_nevra
        log.info("%s: %s is of another dist: its SRPM is made anew as %s", self.name, self.facts.nevra, made_as)
        spec = files.pop(spec_name)
        made = outdir / "made"
        srpm, info = srpm_from_files(
            shown, spec_name, spec, files, self.entry.dist, buildtime, made, macro_files, limits
        )
        return SrpmResult(srpm, None, info.source_nevra, "", info, buildtime)

    def _payload(self, limit: int) -> tuple[str, dict[str, bytes]]:
        """The SRPM's spec name and its files by name, each a plain file name."""
        files: dict[str, bytes] = {}
        spec_names = []
        for name, is_spec, data in payload_files(self.file, limit=limit):
            plain = PurePosixPath(name).name
            if plain != name.lstrip("./") or plain.startswith(".") or plain in files:
                raise InputError(f"{self.name}: source RPM {self.url} holds {name!r}, not a plain file name")
            files[plain] = data
            if is_spec:
                spec_names.append(plain)
        if len(spec_names) != 1:
            raise InputError(f"{self.name}: source RPM {self.url} holds {len(spec_names)} spec files, expected 1")
        if not spec_names[0].endswith(".spec"):
            raise InputError(f"{self.name}: source RPM {self.url} names its spec {spec_names[0]!r}")
        return spec_names[0], files
