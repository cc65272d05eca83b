"""What a build's root held, as the build root itself lists it (mock's `installed_pkgs.log`: rpm's own
query of the root), each package named with the repository it came from: a file of that NEVRA in one of the
repositories the root was given (the base's, the stubs', this run's, the release's). The local builder builds
against the host, which is said as such."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from altai_release.builders.builder import RootPackage

_EPOCH = re.compile(r"-\d+:")  # name-EPOCH:version-release.arch, as %{nevra} writes it
MAX_ROOT_PACKAGES = 5000  # a root of a whole distribution's build system has about 300
NOT_RELEASE = ("base", "stubs", "host")  # the labels of a root's repositories that are not the release's


def of_release(package: dict[str, str]) -> bool:
    """Whether a recorded root package came from the release (its repositories, or this run's)."""
    return package["repository"] not in NOT_RELEASE


def repository_files(repositories: Mapping[str, Path]) -> dict[str, str]:
    """`name-version-release.arch` of every RPM of the repositories (their file names, as rpmbuild names
    them) -> the repository's label; the first repository that has one names it."""
    found: dict[str, str] = {}
    for label, directory in repositories.items():
        for rpm in sorted(directory.glob("*.rpm")) if directory.is_dir() else []:
            found.setdefault(rpm.name.removesuffix(".rpm"), label)
    return found


def installed(text: str, origins: Mapping[str, str], default: str) -> tuple[RootPackage, ...]:
    """The packages `rpm -qa` listed in mock's installed_pkgs.log (`NEVRA BUILDTIME SIZE PKGID installed`),
    each with the repository its file is in (`default` when none of the known ones has it)."""
    found = []
    for line in text.splitlines()[:MAX_ROOT_PACKAGES]:
        fields = line.split()
        if len(fields) < 4:
            continue
        nevra, digest = fields[0], fields[3]
        plain = _EPOCH.sub("-", nevra, count=1)
        found.append(RootPackage(nevra, digest, origins.get(plain, default)))
    return tuple(sorted(found, key=lambda p: p.nevra))


def host_root() -> tuple[RootPackage, ...]:
    """The local builder's root: this host, named by its os-release."""
    name = "this host"
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                name = f"this host ({line.split('=', 1)[1].strip().strip(chr(34))})"
    except OSError:
        pass
    return (RootPackage(name, "", "host"),)


def _name_of(nevra: str) -> str:
    return nevra.rsplit("-", 2)[0]


def root_changes(then: list[dict[str, str]], now: tuple[RootPackage, ...], limit: int = 5) -> list[str]:
    """The packages by which two build roots differ, as `NAME OLD -> NEW` (`-` where a root lacks it), the
    first `limit` of them by name: what a binary that does not reproduce was built against otherwise."""
    before = {_name_of(p["nevra"]): p for p in then}
    after = {_name_of(p.nevra): p for p in now}
    found = []
    for name in sorted(before.keys() | after.keys()):
        a, b = before.get(name), after.get(name)
        old = a["nevra"].removeprefix(f"{name}-") if a else "-"
        new = b.nevra.removeprefix(f"{name}-") if b else "-"
        if old != new:
            found.append(f"{name} {old} -> {new}")
        elif a and b and a["digest"] and b.digest and a["digest"] != b.digest:
            found.append(f"{name} {old} (other bytes)")
    return found[:limit] + ([f"{len(found) - limit} more"] if len(found) > limit else [])
