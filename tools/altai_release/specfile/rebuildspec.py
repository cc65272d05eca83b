"""A dependent rebuilt, its own sources unchanged, for packages of the release that changed: EPEL's minor
bump. Its Release gets `.N` after everything it had (`1%{?dist}` -> `1%{?dist}.1`, then `.2`): higher than
the build it replaces, below any Release its maintainer raises next (`2%{?dist}`), the same NEVRA from any
rebuild of the SRPM that carries it. Its %changelog gets an entry naming what it was rebuilt for.

A package whose own sources change after such a rebuild, its spec's Release not raised above it, keeps the
bump going (`.N+1`, the entry saying so): a published Release never goes down for a change of sources."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from altai_release.core.errors import BadSpecError

_RELEASE_LINE = re.compile(r"^(?P<tag>Release[ \t]*:[ \t]*)(?P<value>.*?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_CHANGELOG = re.compile(r"^%changelog[ \t]*$", re.MULTILINE)
PACKAGER = "Altai release tooling <release@altai.example>"


@dataclass(frozen=True)
class Rebuild:
    counter: int  # N of the `.N` bump: one more than the published rebuild's, else 1
    reasons: tuple[str, ...]  # "libaltai 1.2-1.el6 -> 2.0-1.el6", ...
    when: int  # the changelog entry's day: the newest build time of what changed
    above: str | None = None  # its own change, kept above the release's rebuild of this EVR

    @property
    def summary(self) -> str:
        if self.above is not None:
            return f"its own change, kept above the release's rebuild {self.above}"
        return "rebuilt for " + ", ".join(self.named())

    def named(self) -> list[str]:
        """Each reason as `NAME NEW-EVR`."""
        return [f"{r.split(' ')[0]} {r.split(' -> ')[-1]}" if " -> " in r else r for r in self.reasons]


def add_rebuild(spec_text: str, rebuild: Rebuild, spec_name: str) -> str:
    """The spec with its Release bumped and a %changelog entry for the rebuild."""
    bump = f".{rebuild.counter}"
    text, count = _RELEASE_LINE.subn(lambda m: m.group("tag") + m.group("value") + bump, spec_text, count=1)
    if count == 0:
        raise BadSpecError(f"{spec_name}: no Release: line to bump for a rebuild")
    day = time.strftime("%a %b %d %Y", time.gmtime(rebuild.when))
    lines = "".join(f"- Rebuilt for {name}\n" for name in rebuild.named())
    if rebuild.above is not None:
        lines = f"- Its own change, released above the release's rebuild {rebuild.above}\n"
    entry = f"* {day} {PACKAGER} - %{{version}}-%{{release}}\n{lines}\n"
    found = _CHANGELOG.search(text)
    if found is None:
        return text.rstrip("\n") + f"\n\n%changelog\n{entry}"
    return text[: found.end()] + "\n" + entry + text[found.end() + 1 :]
