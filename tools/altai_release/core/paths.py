"""Checks of the paths, refs and URLs that come from users, layouts and repositories: none may reach a
tool as an option, none may leave the repository. Pure functions (no git needed to call them)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from altai_release.core.errors import InputError

METADATA_DIR = "metadata"  # in a release tree: compose metadata, the SBOM, the provenance statements

# scp-like "user@host:path" or "scheme://..."; anything else must be an existing local path.
_URL_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://|[^/\s]+@[^/\s:]+:)")


def is_git_url(location: str) -> bool:
    return bool(_URL_RE.match(location))


def check_not_option(what: str, value: str) -> None:
    """A ref, path or URL from a repository or a layout is never allowed to reach git as an option."""
    if value.startswith("-"):
        raise InputError(f"{what} {value!r} looks like a command-line option; refusing it")


def repo_relative_path(what: str, value: str) -> PurePosixPath:
    """A path inside the repository: relative, normalised, no '..', not an option."""
    check_not_option(what, value)
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\x00" in value:
        raise InputError(f"{what} {value!r} must be a relative path inside the repository")
    return PurePosixPath(*[p for p in path.parts if p != "."]) if path.parts else PurePosixPath()
