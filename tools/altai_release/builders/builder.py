"""What every builder takes and gives back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from altai_release.layout import PackageEntry


@dataclass(frozen=True)
class BuildJob:
    package: PackageEntry
    srpm: Path
    workdir: Path  # private to this build; the builder writes its results under it
    logdir: Path  # build logs are kept here
    source_date_epoch: int
    unique: str  # distinguishes builds running at the same time (mock's --uniqueext)
    build_requires: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()  # the binary packages the spec makes: what a result may be named
    dependents: tuple[str, ...] = ()  # packages of this run that BuildRequire this one
    # its BuildRequires that a package of the release provides (one of this run, or one published)
    from_release: tuple[str, ...] = ()


@dataclass(frozen=True)
class RootPackage:
    """One package of a build's root: what it is, rpm's digest of it (SIGMD5: the same signed or not), and
    the repository it came from (the base's, this run's, one of the release's, or "host")."""

    nevra: str
    digest: str
    repository: str

    def as_json(self) -> dict[str, str]:
        return {"nevra": self.nevra, "digest": self.digest, "repository": self.repository}


@dataclass(frozen=True)
class BuildOutput:
    rpms: list[Path]
    log: Path
    notes: list[str] = field(default_factory=list)
    # who built it, for the release's provenance: {"builder": local | mock | koji} and that builder's identity
    # (mock: the chroot and its config's SHA-256; koji: the hub and the task)
    facts: dict[str, str] = field(default_factory=dict)
    build_root: tuple[RootPackage, ...] = ()  # every package the build's root held


class Builder(Protocol):
    name: str

    def start(self, order: Mapping[str, set[str]]) -> None:
        """Before the first build: check what the whole run needs (`order`: package -> packages of the run
        it needs first), so that a run that cannot work fails before anything is submitted."""

    def describe(self) -> str:
        """What builds, and against what: a run says it once, in its first lines."""

    def build(self, job: BuildJob) -> BuildOutput: ...

    def abort(self) -> None:
        """The run failed or was interrupted: stop the builds in flight (called from another thread)."""
