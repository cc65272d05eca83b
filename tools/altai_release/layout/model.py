"""The release description as typed values: keys, repositories, packages, upstreams and the release."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields, replace
from pathlib import Path

from altai_release.core.errors import InputError
from altai_release.core.limits import DEFAULT_DOWNLOAD_LIMITS, DEFAULT_LIMITS, DownloadLimits, SandboxLimits
from altai_release.layout.buildroot_table import BuildRootSettings
from altai_release.layout.koji_table import KojiSettings
from altai_release.rpm.evr import Pin

CONTENT_KINDS = ("own", "rebuilt", "sources", "upstream")


@dataclass(frozen=True)
class SigningKey:
    name: str
    id: str
    development: bool
    file: Path | None = None  # the public key, for keys whose secret we do not hold (upstream keys)
    # fingerprints of the keys this one replaced (a rotation): a check still trusts releases they signed
    previous: tuple[str, ...] = ()


@dataclass(frozen=True)
class Repository:
    name: str
    path: str
    signed_by: str
    content: str  # own | rebuilt | sources | upstream
    sources: str | None  # for "rebuilt": the repository that receives the SRPMs


@dataclass(frozen=True)
class SrpmOrigin:
    """A third-party source RPM rebuilt as it is: the exact bytes we reviewed, optionally signed."""

    url: str  # http(s):// or file://
    sha256: str
    key: str | None  # a layout key (with a public key file) that must have signed it


@dataclass(frozen=True)
class PackageEntry:
    name: str
    git: str | None  # absolute path or URL; None for a package built from an SRPM
    ref: str
    subdir: str | None
    spec: str | None
    repository: str
    dist: str
    mock_chroot: str
    allow_downgrade_to: str | None = None  # the one EVR this package may go down to, named on purpose
    downgrade_reason: str | None = None  # why, for the release notes
    srpm: SrpmOrigin | None = None  # exclusive with git
    generated: bool = False  # the release package (NAME-release), made from the layout itself


@dataclass(frozen=True)
class Upstream:
    """Third-party packages imported as they are, with their upstream signature."""

    name: str
    url: str  # http(s):// or file:// of a yum repository
    key: str  # the layout key that must have signed every package
    repository: str
    pins: tuple[Pin, ...]
    allow_downgrade: tuple[Pin, ...] = ()  # "name = EVR": the versions that may go down
    downgrade_reason: str | None = None  # why, for the release notes


@dataclass(frozen=True)
class ReleaseLayout:
    file: Path
    name: str
    version: str
    dist: str
    mock_chroot: str
    macro_files: tuple[Path, ...]
    templates: Path
    keys: dict[str, SigningKey]
    repositories: dict[str, Repository]
    packages: dict[str, PackageEntry]
    upstreams: dict[str, Upstream]
    target_rpm: str | None = None  # the rpm version of the target (EL6: "4.8"): what its packages may need
    lookaside: str | None = None  # base URL of the lookaside cache for files listed in a `sources` file
    # `priority=` of every section of altai.repo: dnf (and yum with yum-plugin-priorities) then never
    # takes a package of the same name from another repository, so a deliberate downgrade stays held
    priority: int = 10
    koji: KojiSettings | None = None  # the hub and target of --builder koji
    sandbox: SandboxLimits = DEFAULT_LIMITS  # what a spec's sandboxed step may use
    downloads: DownloadLimits = DEFAULT_DOWNLOAD_LIMITS  # what one download may take
    mock_configdir: Path | None = None  # where mock's chroot configs are (mock --configdir); None: mock's own
    buildroot: BuildRootSettings = BuildRootSettings()  # what mock's build roots are made from
    metadata_expire: str = "1h"  # altai.repo's: how long hosts trust fetched metadata (90m, 6h, never)
    # the key that signs every repository's repomd.xml (we regenerate the metadata of upstream copies too);
    # default: the key of the first repository of our own packages
    metadata_key: str | None = None
    # [release] release_package: every run also makes NAME-release (altai.repo and the keys, as epel-release)
    release_package: bool = False

    @property
    def metadata_signer(self) -> SigningKey:
        if self.metadata_key is not None:
            return self.keys[self.metadata_key]
        own = next((r for r in self.repositories.values() if r.content == "own"), None)
        return self.keys[own.signed_by if own else next(iter(self.repositories.values())).signed_by]

    def for_release(self, name: str, version: str) -> ReleaseLayout:
        """This layout under a release's own name and version (a release tree keeps them in its manifest;
        a later layout may have moved on)."""
        return replace(self, name=name, version=version)

    def package(self, name: str) -> PackageEntry:
        try:
            return self.packages[name]
        except KeyError:
            known = ", ".join(sorted(self.packages)) or "none"
            raise InputError(f"unknown package {name!r} (the release {self.file.name} has: {known})") from None

    def key_for(self, repository: str) -> SigningKey:
        return self.keys[self.repositories[repository].signed_by]

    def macro_name(self, path: Path) -> str:
        """A macros file as the release's provenance names it: relative to the layout's directory."""
        return str(path.relative_to(self.file.parent)) if path.is_relative_to(self.file.parent) else path.name

    def repository_for(self, repository: str, arch: str) -> str:
        """Where a file of a package built for `repository` goes: its SRPM to the sources repository."""
        sources = self.repositories[repository].sources
        return sources if arch == "src" and sources else repository


def table_keys(cls: type, *, leave_out: Collection[str] = (), renamed: dict[str, str] | None = None) -> set[str]:
    """The keys of a layout table: the fields of the dataclass it is read into, less those that do not come
    from the table (`leave_out`), with the TOML spelling of the ones it names otherwise (`renamed`)."""
    names = {f.name for f in fields(cls)} - set(leave_out)
    return {(renamed or {}).get(n, n) for n in names}
