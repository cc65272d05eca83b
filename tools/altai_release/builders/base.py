"""What every builder takes and gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..layout import PackageEntry


@dataclass(frozen=True)
class BuildJob:
    package: PackageEntry
    srpm: Path
    workdir: Path  # private to this build; the builder writes its results under it
    logdir: Path  # build logs are kept here
    source_date_epoch: int
    unique: str  # distinguishes builds running at the same time (mock's --uniqueext)
    build_requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildOutput:
    rpms: list[Path]
    log: Path
    notes: list[str] = field(default_factory=list)


class Builder(Protocol):
    name: str

    def build(self, job: BuildJob) -> BuildOutput: ...
