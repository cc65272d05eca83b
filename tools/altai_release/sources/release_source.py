"""The release package (`NAME-release`, as epel-release): the release's .repo file, with the keys read from
where the package installs them, and the public keys of every repository and of the metadata, made from
the layout itself by every run when the layout asks for it (`[release] release_package = true`).

Byte-reproducible: its SOURCE_DATE_EPOCH is the newest creation time of the keys it holds, so the same base
URL, layout and keys give the same SRPM and RPM. Its Version is the release's; its Release counts the
contents published for that version: another base URL or key than the current release's package holds
gives the next Release (a published NEVRA never changes, and the newer content sorts higher). A build system
that keeps every NVR it built (Koji) has the last word: a Release it holds with other contents is skipped."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from altai_release.core.hashing import bytes_sha256
from altai_release.core.templates import render
from altai_release.layout import PackageEntry, ReleaseLayout
from altai_release.rpm.manifest import Manifest

if TYPE_CHECKING:
    from altai_release.core.limits import SandboxLimits
    from altai_release.sources.srpm_from_git import SrpmResult

KEY_DIR = "file:///etc/pki/rpm-gpg"


@dataclass
class ReleasePackageSource:
    entry: PackageEntry
    files: dict[str, bytes]  # the spec's sources by name: the .repo file and the keys
    spec_text: str
    epoch_time: int  # its SOURCE_DATE_EPOCH: the newest creation time of its keys
    digest: str  # of what it holds, its Release aside: the content the manifest records
    templates: Path = Path()
    context: dict[str, object] = field(default_factory=dict)  # what the spec template is rendered with

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def description(self) -> str:
        return f"the layout's repositories and keys (content {self.digest[:12]})"

    @property
    def making(self) -> str:
        return "making the release package from"

    @property
    def provenance(self) -> dict[str, str]:
        return {"kind": "release", "sha256": self.digest}

    def material(self, named: Sequence[str]) -> Mapping[str, object]:
        return {"release_package": self.digest}

    @classmethod
    def resolve(
        cls,
        entry: PackageEntry,
        layout: ReleaseLayout,
        base_url: str,
        public_keys: Mapping[str, bytes],
        workdir: Path,
        current: Manifest | None,
    ) -> ReleasePackageSource:
        from altai_release.layout.repo_file import base_url_var, repo_file
        from altai_release.signing.keyfiles import public_key_facts

        used = {r.signed_by for r in layout.repositories.values()} | {layout.metadata_signer.name}
        keys: dict[str, bytes] = {}
        for key in sorted(used):
            if key in public_keys:
                keys[f"RPM-GPG-KEY-{key}"] = public_keys[key]
            elif layout.keys[key].file is not None:
                keys[f"RPM-GPG-KEY-{key}"] = layout.keys[key].file.read_bytes()  # type: ignore[union-attr]
        workdir.mkdir(parents=True, exist_ok=True)
        created = 0
        for file_name, data in keys.items():
            (workdir / file_name).write_bytes(data)
            created = max(created, public_key_facts(workdir / file_name).created)
        # the .repo file is the same for every release (an operator may edit it: %config(noreplace) keeps the
        # edit and would hold the host back were the base URL in it); the base URL is a yum variable's file
        repo_text = repo_file(layout, base_url, Manifest(layout.name, layout.version), key_url=KEY_DIR, constant=True)
        var = base_url_var(layout)
        files = {f"{layout.name}.repo": repo_text.encode(), var: f"{base_url.rstrip('/')}\n".encode(), **keys}
        context: dict[str, object] = {
            "name": entry.name,
            "release": layout.name,
            "version": layout.version,
            "base_var": var,
            "keys": sorted(keys),
            "date": time.strftime("%a %b %d %Y", time.gmtime(created)),
        }
        parts = [repr(sorted(context.items())).encode(), *(n.encode() + b"\0" + d for n, d in sorted(files.items()))]
        digest = bytes_sha256(b"\0\0".join(parts))
        context["release_number"] = _release_number(entry.name, layout.version, digest, current)
        spec_text = render(layout.templates, "release-package.spec.j2", context)
        return cls(entry, files, spec_text, created, digest, layout.templates, context)

    def next_release(self) -> ReleasePackageSource:
        """The same contents under the next Release: for a number the build system holds for other contents."""
        number = self.context["release_number"]
        assert isinstance(number, int)
        context = {**self.context, "release_number": number + 1}
        return replace(self, spec_text=render(self.templates, "release-package.spec.j2", context), context=context)

    def make_srpm(self, outdir: Path, macro_files: Sequence[Path], limits: SandboxLimits) -> SrpmResult:
        """The SRPM, made as git2srpm makes one: the spec read and `rpmbuild -bs` in one sandbox."""
        from altai_release.sources.srpm_from_git import SrpmResult
        from altai_release.sources.srpm_session import srpm_from_files

        spec = self.spec_text.encode()
        shown = f"{self.name}.spec"
        dist = self.entry.dist
        made = srpm_from_files(shown, shown, spec, self.files, dist, self.epoch_time, outdir, macro_files, limits)
        srpm, info = made
        return SrpmResult(srpm, None, info.source_nevra, "", info, self.epoch_time)


def _release_number(name: str, version: str, digest: str, current: Manifest | None) -> int:
    """1 for a version's first content; the current release's package's number while it holds the same
    content; the next number when the content changed."""
    published = [
        e for e in (current.entries if current else []) if e.name == name and e.version == version and e.arch == "src"
    ]
    if not published:
        return 1
    entry = published[0]
    number = int("".join(c for c in entry.release.split(".")[0] if c.isdigit()) or "0")
    same = (entry.source or {}).get("sha256") == digest
    return number if same else number + 1
