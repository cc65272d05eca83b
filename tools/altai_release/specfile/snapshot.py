"""--snapshot's Release suffix: `.git.N.HASH`, inserted before the dist (or into %autorelease)."""

from __future__ import annotations

import re

from altai_release.core.errors import BadSpecError

_RELEASE_LINE = re.compile(r"^(?P<tag>Release[ \t]*:[ \t]*)(?P<value>.*?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_DIST_FORMS = ("%{?dist}", "%{dist}", "%dist")
_AUTORELEASE = re.compile(r"%\{\??autorelease\}|%autorelease\b")
# the first of rpm's section markers ends the preamble: a "Release:" below it is text (%description,
# %changelog) or a script, never the package's Release
_FIRST_SECTION = re.compile(
    r"^%(package|description|prep|generate_buildrequires|conf|build|install|check|clean|files|changelog|pre|post|"
    r"preun|postun|pretrans|posttrans|preuntrans|postuntrans|verifyscript|trigger\w*|filetrigger\w*|"
    r"transfiletrigger\w*|sepolicy|patchlist|sourcelist)\b",
    re.MULTILINE,
)


def snapshot_suffix(count: int, hexsha: str) -> str:
    """`.git.N.HASH`: rpm compares N numerically, so later commits sort higher and any snapshot sorts
    above the plain release it builds on (an extra segment is newer)."""
    return f".git.{count}.{hexsha[:7]}"


def add_release_suffix(spec_text: str, suffix: str, spec_name: str) -> str:
    """Insert `suffix` into every Release: line of the preamble, before %{?dist} where there is one."""

    def insert(match: re.Match[str]) -> str:
        value = match.group("value")
        auto = _AUTORELEASE.search(value)
        if auto:  # rpmautospec's own snapshot field goes before the dist it appends
            braced = auto.group(0).startswith("%{")
            option = f" -s {suffix.lstrip('.')}"
            replaced = auto.group(0)[:-1] + option + "}" if braced else auto.group(0) + option
            return match.group("tag") + value[: auto.start()] + replaced + value[auto.end() :]
        for dist in _DIST_FORMS:
            at = value.find(dist)
            if at >= 0:
                return match.group("tag") + value[:at] + suffix + value[at:]
        return match.group("tag") + value + suffix

    section = _FIRST_SECTION.search(spec_text)
    end = section.start() if section else len(spec_text)
    preamble, count = _RELEASE_LINE.subn(insert, spec_text[:end])
    if count == 0:
        raise BadSpecError(f"{spec_name}: no Release: line in its preamble to add the snapshot suffix to")
    return preamble + spec_text[end:]
