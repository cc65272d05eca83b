"""The layout's `[buildroot]` table: what mock's build roots are made from.

- `base = "host"`: the host-derived base the tool makes itself (this machine's userland as four RPMs: a clean,
  minimal, reproducible root with no network, but Debian's rpm and Python, not CentOS 6's);
- `base = "mock"`: the chroot config `[release] mock_chroot` names, as mock finds it (`mock_configdir`, else
  mock's own configuration directory), for build hosts that reach its mirrors (an EL6 build host: epel-6);
- `base = "mirror"`: a base OS mirror's repositories (`mirror = [URL, ...]`, a CentOS 6 vault copy, say),
  made into a chroot config by the tool, the build root installed from them with `@buildsys-build`.
`host_packages` (base = "host") takes more of this host's packages into the base, each by its Debian name with
the names it provides in a build root (`{ git = ["git", "git-core"] }`); `packages` names more packages every
build root holds (they then sit in mock's root cache); `stubs` names what
a build root may take on trust (`builders.bases.stubs`); `rebuild` how far a change reaches its dependents
(`release.run.reach`). Without the table, `base = "mock"`, as layouts before it built."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from altai_release.core.tomlreader import TomlReader

BASES = ("host", "mock", "mirror")
REBUILD_POLICIES = ("transitive", "direct", "local")
_DEBIAN_NAME = re.compile(r"[a-z0-9][a-z0-9.+-]+")
_STUB = re.compile(r"[A-Za-z0-9._+-]+(\([A-Za-z0-9._+-]+\))?( = [A-Za-z0-9._+~^:-]+)?")


@dataclass(frozen=True)
class BuildRootSettings:
    base: str = "mock"  # one of BASES
    mirror: tuple[str, ...] = ()  # base = "mirror": the repositories' URLs
    packages: tuple[str, ...] = ()  # in every build root, beside what the base installs
    stubs: tuple[str, ...] = ()  # names (with `= VERSION` at will) a files-less package provides in every root
    rebuild: str = "transitive"  # how far a change of a package reaches its dependents: REBUILD_POLICIES
    rebuild_on_base_change: bool = False  # whether a change of the base makes every package stale
    host_packages: tuple[tuple[str, tuple[str, ...]], ...] = ()  # base = "host": (Debian package, provides)


def read_buildroot(r: TomlReader, data: dict[str, Any]) -> BuildRootSettings:
    if "buildroot" not in data:
        return BuildRootSettings()
    table = r.table(data, "buildroot")
    r.check_keys(
        table,
        "buildroot",
        {"base", "mirror", "packages", "stubs", "rebuild", "rebuild_on_base_change", "host_packages"},
    )
    base = r.string(data, "buildroot.base", default="mock")
    if base not in BASES:
        raise r.fail("buildroot.base", f"expected one of {', '.join(BASES)}, found {base!r}")
    mirror = tuple(r.strings(data, "buildroot.mirror"))
    for i, url in enumerate(mirror):
        if not url.startswith(("http://", "https://", "file://")) or any(c in url for c in "\n\" '"):
            raise r.fail(f"buildroot.mirror[{i}]", f"expected an http(s):// or file:// URL, found {url!r}")
    if (base == "mirror") != bool(mirror):
        raise r.fail("buildroot.mirror", 'expected with base = "mirror" only, and at least one URL then')
    packages = tuple(r.strings(data, "buildroot.packages"))
    for i, name in enumerate(packages):
        if not name or not all(c.isalnum() or c in "._+-@" for c in name):
            raise r.fail(f"buildroot.packages[{i}]", f"expected a package name, found {name!r}")
    stubs = tuple(r.strings(data, "buildroot.stubs"))
    for i, name in enumerate(stubs):
        if not _STUB.fullmatch(name):
            raise r.fail(f"buildroot.stubs[{i}]", f"expected a name, or 'NAME = VERSION', found {name!r}")
    rebuild = r.string(data, "buildroot.rebuild", default="transitive")
    if rebuild not in REBUILD_POLICIES:
        raise r.fail("buildroot.rebuild", f"expected one of {', '.join(REBUILD_POLICIES)}, found {rebuild!r}")
    on_base = r.boolean(data, "buildroot.rebuild_on_base_change", False)
    return BuildRootSettings(base, mirror, packages, stubs, rebuild, on_base, _host_packages(r, table, base))


def _host_packages(r: TomlReader, table: dict[str, Any], base: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    given = table.get("host_packages", {})
    if not isinstance(given, dict):
        raise r.fail("buildroot.host_packages", "expected a table of Debian package = [names it provides]")
    if given and base != "host":
        raise r.fail("buildroot.host_packages", 'expected with base = "host" only (the host-derived base)')
    found = []
    for debian, names in sorted(given.items()):
        where = f"buildroot.host_packages.{debian}"
        provides = (names,) if isinstance(names, str) else names
        if not _DEBIAN_NAME.fullmatch(debian):
            raise r.fail(where, f"expected a Debian package name, found {debian!r}")
        if not isinstance(provides, list | tuple) or not provides:
            raise r.fail(where, "expected the names it provides in a build root (a string or a list)")
        for name in provides:
            if not isinstance(name, str) or not _STUB.fullmatch(name):
                raise r.fail(where, f"expected a name, or 'NAME = VERSION', found {name!r}")
        found.append((debian, tuple(provides)))
    return tuple(found)
