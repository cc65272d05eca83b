"""[packages.NAME]: a package built from a git repository with a spec, or from a third-party source RPM."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from altai_release.core.paths import is_git_url
from altai_release.core.tomlreader import TomlReader, quoted
from altai_release.layout.model import PackageEntry, Repository, SigningKey, SrpmOrigin, table_keys

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
DIST_RE = re.compile(r"[A-Za-z0-9._+~^]*")
DIST_EXPECTED = "a dist tag of letters, digits and ._+~^ (like .el6)"
CHROOT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*(/[A-Za-z0-9][A-Za-z0-9._+-]*)*")  # eol/epel-6-x86_64 too

_GIT_KEYS = {"git", "ref", "subdir", "spec"}
_PACKAGE_KEYS = table_keys(PackageEntry, leave_out={"name", "srpm", "generated", *_GIT_KEYS})
_SRPM_KEYS = table_keys(SrpmOrigin, renamed={"url": "srpm"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def read_package(
    r: TomlReader,
    data: dict[str, Any],
    name: str,
    base: Path,
    keys: dict[str, SigningKey],
    repositories: dict[str, Repository],
    dist: str,
    chroot: str,
) -> PackageEntry:
    key = f"packages.{quoted(name)}"
    if not NAME_RE.match(name):
        raise r.fail(key, "expected a package name of letters, digits and ._+-")
    table = r.table(data, key)
    r.check_keys(table, key, _PACKAGE_KEYS | _GIT_KEYS | _SRPM_KEYS)
    has_git, has_srpm = "git" in table, "srpm" in table
    if has_git == has_srpm:
        raise r.fail(key, "expected exactly one of git (a repository with a spec) or srpm (a source RPM)")
    r.check_keys(table, key, _PACKAGE_KEYS | (_GIT_KEYS if has_git else _SRPM_KEYS))
    repository = r.string(data, f"{key}.repository")
    kinds = ("own", "rebuilt") if has_git else ("rebuilt",)
    if repository not in repositories or repositories[repository].content not in kinds:
        buildable = [n for n, repo in repositories.items() if repo.content in kinds]
        what = "built packages" if has_git else 'rebuilt third-party packages (content = "rebuilt")'
        raise r.fail(
            f"{key}.repository", f"{repository!r} is not a repository of {what} (known: {', '.join(buildable)})"
        )
    git = _git_location(r, data, key, base) if has_git else None
    srpm = None if has_git else _srpm_origin(r, data, key, base, keys)
    return PackageEntry(
        name=name,
        git=git,
        ref=r.string(data, f"{key}.ref", default="HEAD") if has_git else "",
        subdir=r.optional_string(data, f"{key}.subdir"),
        spec=r.optional_string(data, f"{key}.spec"),
        repository=repository,
        dist=r.matching(data, f"{key}.dist", DIST_RE, DIST_EXPECTED, default=dist) if dist else "",
        mock_chroot=r.matching(data, f"{key}.mock_chroot", CHROOT_RE, "a mock chroot name", default=chroot),
        allow_downgrade_to=r.optional_string(data, f"{key}.allow_downgrade_to"),
        downgrade_reason=r.optional_string(data, f"{key}.downgrade_reason"),
        srpm=srpm,
    )


def _git_location(r: TomlReader, data: dict[str, Any], key: str, base: Path) -> str:
    git = r.string(data, f"{key}.git")
    if git.startswith("-"):
        raise r.fail(f"{key}.git", f"expected a path or URL, found {git!r}")
    return git if is_git_url(git) else str((base / git).resolve())


def _srpm_origin(r: TomlReader, data: dict[str, Any], key: str, base: Path, keys: dict[str, SigningKey]) -> SrpmOrigin:
    location = r.string(data, f"{key}.srpm")
    if location.startswith("-"):
        raise r.fail(f"{key}.srpm", f"expected a URL or a path, found {location!r}")
    if not location.startswith(("http://", "https://", "file://")):
        if "://" in location:
            raise r.fail(f"{key}.srpm", f"expected an http(s):// or file:// URL or a path, found {location!r}")
        location = (base / location).resolve().as_uri()
    digest = r.string(data, f"{key}.sha256").lower()
    if not _SHA256.match(digest):
        raise r.fail(f"{key}.sha256", "expected the 64 hex digits of the SRPM's SHA-256")
    srpm_key = r.optional_string(data, f"{key}.key")
    if srpm_key is not None and (srpm_key not in keys or keys[srpm_key].file is None):
        with_files = [k for k, v in keys.items() if v.file is not None]
        raise r.fail(
            f"{key}.key",
            f"{srpm_key!r} is not a key with a public key file (known: {', '.join(with_files) or 'none'})",
        )
    return SrpmOrigin(location, digest, srpm_key)
