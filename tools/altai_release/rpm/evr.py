"""rpm's version order, and the layout's pins: one place for "which is newest" and "does this match"."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from altai_release.rpm.nevra import Nevra

T = TypeVar("T")


@dataclass(frozen=True)
class Pin:
    """`name` or `name = [EPOCH:]VERSION-RELEASE` from a layout."""

    name: str
    evr: str | None  # None: the newest there is

    def __str__(self) -> str:
        return f"{self.name} = {self.evr}" if self.evr else self.name

    def matches(self, nevra: Nevra) -> bool:
        return nevra.name == self.name and (self.evr is None or evr_matches(nevra, self.evr))


def parse_pin(text: str) -> Pin | None:
    """A Pin, or None when `text` is not of the form `NAME` or `NAME = EVR`."""
    name, sep, evr = (part.strip() for part in text.partition("="))
    if not name or any(c.isspace() for c in name) or (sep and not evr):
        return None
    return Pin(name, evr or None)


def evr_matches(nevra: Nevra, evr: str) -> bool:
    """`evr` names this NEVRA's version: `E:V-R`, or `V-R` when the epoch is unset."""
    return evr in (nevra.evr, f"{nevra.version}-{nevra.release}")


def highest(items: Iterable[T], nevra_of: Callable[[T], Nevra]) -> T | None:
    """The item of the highest EVR in rpm's order (the first one among equals); None when empty."""
    best: T | None = None
    for item in items:
        if best is None or nevra_of(item).compare_evr(nevra_of(best)) > 0:
            best = item
    return best
