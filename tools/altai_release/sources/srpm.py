"""A third-party package rebuilt from its source RPM as it is: fetched once into a content-addressed cache,
checked against the layout's SHA-256 and, with `key`, its signature against that key's public file — before
anything runs. Its spec is read (in the sandbox, like every spec) from the SRPM's payload; the SRPM itself
is what the builders rebuild and what deps/misc-srpms republishes with the team's signature."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..errors import InputError, SigningError, VerificationError
from ..layout import PackageEntry, ReleaseLayout
from ..packages import PackageFacts, payload_files, read_facts, read_header
from ..spec import read_spec
from ..userfiles import KEY_FILE_LIMIT, read_bytes
from ..verify import KeyDatabases, verify_packages

if TYPE_CHECKING:
    from ..limits import SandboxLimits
    from ..srpm import SrpmResult


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
        from ..download import fetch_verified  # urllib loads only for a run with an SRPM package

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
        """The upstream SRPM as it is, with its spec read in the sandbox (with the layout's dist)."""
        outdir.mkdir(parents=True, exist_ok=True)
        specs = [(name, data) for name, _, data in payload_files(self.file, spec_only=True)]
        if len(specs) != 1:
            raise InputError(f"{self.name}: source RPM {self.url} holds {len(specs)} spec files, expected 1")
        spec_name = PurePosixPath(specs[0][0]).name
        if not spec_name.endswith(".spec") or spec_name.startswith("."):
            raise InputError(f"{self.name}: source RPM {self.url} names its spec {specs[0][0]!r}")
        spec_dir = outdir / "spec"
        spec_dir.mkdir()
        (spec_dir / spec_name).write_bytes(specs[0][1])
        defines = [("dist", self.entry.dist)] if self.entry.dist else []
        shown = f"{self.url}: {spec_name}"
        info = read_spec(spec_dir / spec_name, defines, macro_files, display_name=shown, limits=limits)
        srpm = outdir / f"{self.facts.nevra}.rpm"
        shutil.copyfile(self.file, srpm)
        buildtime = int(read_header(self.file)["buildtime"] or 0)
        from ..srpm import SrpmResult

        return SrpmResult(srpm, None, self.facts.nevra, "", info, buildtime)
