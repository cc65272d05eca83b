"""Package identity as rpm sees it."""

from __future__ import annotations

from dataclasses import dataclass

from altai_release.rpm.rpmbindings import rpm_bindings


@dataclass(frozen=True, order=False)
class Nevra:
    name: str
    epoch: int | None
    version: str
    release: str
    arch: str

    @property
    def evr(self) -> str:
        prefix = f"{self.epoch}:" if self.epoch else ""
        return f"{prefix}{self.version}-{self.release}"

    def compare_evr(self, other: Nevra) -> int:
        """rpm's own ordering (-1, 0, 1) of epoch-version-release."""
        mine = (str(self.epoch or 0), self.version, self.release)
        theirs = (str(other.epoch or 0), other.version, other.release)
        return int(rpm_bindings().labelCompare(mine, theirs))

    def __str__(self) -> str:
        return f"{self.name}-{self.evr}.{self.arch}"
