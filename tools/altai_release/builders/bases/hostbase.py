"""The host-derived build-root base: a local yum repository of RPMs made from this host's own userland, so
that mock builds in a clean chroot with no network and no EL mirror (MOCK-OFFLINE.md). It is the host's
userland (Debian 12: rpm 4.18, bash 5.2, Python 3.11), not CentOS 6: a clean, minimal, reproducible build
root, which the run says plainly.

- `filesystem` (Provides setup, basesystem): the usr-merge links, the base directories, a minimal /etc;
- `altai-buildsys`: the files of the build system's Debian packages and every library they load, with the
  names EL's `buildsys-build` group installs as Provides, `/usr/bin/sh` as bash and `%_dbpath /var/lib/rpm`;
- `altai-python3`: Python 3.11, its rpm bindings and what they load beyond that (Provides python3,
  python3-devel, python(abi), python3-rpm);
- `altai-el-macros`: the layout's macros files in /etc/rpm, read last (Provides redhat-rpm-config,
  system-release, epel-rpm-macros);
- `altai-host-extras`, when the layout names `[buildroot] host_packages`: those packages' files.
The same host makes the same RPMs and metadata (times are a fixed epoch, no host name, no signatures). Each
Release carries a digest of the package's files; the base is remade when the host's packages or the layout's
macros change, in a directory named by what it is made from, under the state directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from altai_release.builders.bases.hostfiles import file_list, package_paths, tree_digest, with_links_and_libraries
from altai_release.core import runner
from altai_release.core.errors import BuildError

MAKER = "3"  # a change of how the base is made changes this (its package lists are part of its name)
EPOCH = 1_577_836_800  # 2020-01-01: the time of every file and header of the base
BUILDSYS_PACKAGES = (
    "bash",
    "coreutils",
    "tar",
    "gzip",
    "bzip2",
    "xz-utils",
    "zstd",
    "cpio",
    "diffutils",
    "findutils",
    "mawk",
    "grep",
    "sed",
    "patch",
    "util-linux",
    "debianutils",
    "unzip",
    "make",
    "file",
    "libmagic1",
    "libmagic-mgc",
    "libc6",
    "libc-bin",
    "rpm",
    "rpm-common",
    "rpm2cpio",
    "librpm9",
    "librpmbuild9",
    "librpmio9",
    "librpmsign9",
    "debugedit",
)
PYTHON_PACKAGES = (
    "python3.11",
    "python3.11-minimal",
    "libpython3.11-stdlib",
    "libpython3.11-minimal",
    "python3-minimal",
    "python3-rpm",
)
BUILDSYS_PROVIDES = (
    "bash",
    "coreutils",
    "tar",
    "gzip",
    "bzip2",
    "xz",
    "zstd",
    "cpio",
    "diffutils",
    "findutils",
    "gawk",
    "grep",
    "sed",
    "patch",
    "util-linux",
    "which",
    "unzip",
    "make",
    "file",
    "rpm",
    "rpm-build",
    "glibc",
    "glibc-common",
    "shadow-utils",
    "info",
    "buildsys-build",
    "redhat-rpm-config-base",
    "/bin/sh",
    "/bin/bash",
    "/usr/bin/sh",
    "/bin/awk",
    "/usr/bin/awk",
    "/usr/bin/env",
)
PYTHON_PROVIDES = ("python3", "python3-devel", "python3-libs", "python(abi) = 3.11", "/usr/bin/python3", "python3-rpm")
MACROS_PROVIDES = (
    "redhat-rpm-config",
    "python-rpm-macros",
    "python3-rpm-macros",
    "system-release = 6",
    "redhat-release = 6",
    "epel-rpm-macros",
    "centos-release = 6",
)
_BASE_DIRS = (
    "/etc",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/share",
    "/var/lib",
    "/var/log",
    "/var/cache",
    "/root",
    "/home",
    "/dev",
    "/proc",
    "/sys",
    "/run",
    "/opt",
    "/mnt",
    "/srv",
)
_ETC = {
    "passwd": "root:x:0:0:root:/root:/bin/bash\n",
    "group": "root:x:0:\n",
    "shadow": "root:*:18262:0:99999:7:::\n",
    "gshadow": "root:*::\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files\n",
    "redhat-release": "Altai host-derived build root (this host's userland, not CentOS) release 6\n",
}


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    arch: str
    provides: tuple[str, ...]
    stage: Path  # its files, as they will be installed
    summary: str


def stage_files(stage: Path, paths: Sequence[str]) -> None:
    """Copy the host's files and links into `stage`, each directory as the host has it, every time EPOCH."""
    for path in sorted(paths):
        target = stage / path.lstrip("/")
        _make_parents(stage, target.parent)
        if os.path.islink(path):
            target.symlink_to(os.readlink(path))
        else:
            shutil.copy2(path, target, follow_symlinks=False)
        os.utime(target, (EPOCH, EPOCH), follow_symlinks=False)


def _make_parents(stage: Path, directory: Path) -> None:
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for made in reversed(missing):
        host = Path("/") / made.relative_to(stage)
        made.mkdir()
        made.chmod(host.stat().st_mode & 0o7777 if host.is_dir() else 0o755)


def spec_text(package: Package, release: str, requires: Sequence[str]) -> str:
    provides = "".join(f"Provides: {p}\n" for p in package.provides)
    needs = "".join(f"Requires: {r}\n" for r in requires)
    return (
        f"Name: {package.name}\nVersion: {package.version}\nRelease: {release}\nSummary: {package.summary}\n"
        f"License: the host packages' own\nBuildArch: {package.arch}\nAutoReqProv: no\n{provides}{needs}"
        f"%description\n{package.summary}: this host's userland, not CentOS.\n"
        f"%files -f %{{_topdir}}/{package.name}.files\n"
    )


def build_rpm(package: Package, release: str, requires: Sequence[str], top: Path) -> Path:
    """The package's RPM from its staged files, as the same host makes it every time."""
    top.mkdir(parents=True, exist_ok=True)
    (top / f"{package.name}.files").write_text(file_list(package.stage), encoding="utf-8")
    spec = top / f"{package.name}.spec"
    spec.write_text(spec_text(package, release, requires), encoding="utf-8")
    defines = {
        "_topdir": str(top),
        "__spec_install_pre": "%{___build_pre}",  # the staged files are the buildroot: never removed
        "__os_install_post": "%{nil}",
        "debug_package": "%{nil}",
        "_build_id_links": "none",
        "_buildhost": "altai-host-base",
        "_binary_payload": "w3.zstdio",
        "use_source_date_epoch_as_buildtime": "1",
        "clamp_mtime_to_source_date_epoch": "1",
        "source_date_epoch_from_changelog": "0",
    }
    argv = ["rpmbuild", "-bb", "--quiet", "--noclean", "--buildroot", str(package.stage)]
    for name, value in defines.items():
        argv += ["--define", f"{name} {value}"]
    env = {"SOURCE_DATE_EPOCH": str(EPOCH), "HOME": str(top), "PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"}
    runner.run([*argv, str(spec)], BuildError, f"rpmbuild of the host base's {package.name}", env=env)
    (built,) = (top / "RPMS" / package.arch).glob(f"{package.name}-*.rpm")
    return built


def filesystem_stage(stage: Path) -> None:
    """The usr-merged links, the base directories (/tmp and /var/tmp 1777), a minimal /etc."""
    for name in ("bin", "sbin", "lib", "lib64"):
        (stage / "usr" / name).mkdir(parents=True, exist_ok=True)
        (stage / name).symlink_to(f"usr/{name}")
    for directory in _BASE_DIRS:
        (stage / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for directory in ("tmp", "var/tmp"):
        (stage / directory).mkdir(parents=True, exist_ok=True)
        (stage / directory).chmod(0o1777)
    for name, text in _ETC.items():
        (stage / "etc" / name).write_text(text)
        (stage / "etc" / name).chmod(0o600 if "shadow" in name else 0o644)
    if Path("/etc/login.defs").is_file():
        shutil.copyfile("/etc/login.defs", stage / "etc" / "login.defs")
    for top, dirs, files in os.walk(stage):
        for name in dirs + files:
            os.utime(Path(top, name), (EPOCH, EPOCH), follow_symlinks=False)


def collected(packages: Sequence[str], beside: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """The files of the host's packages with their links and libraries, less those of `beside`."""
    return sorted(with_links_and_libraries(package_paths(packages)) - beside)


def release_of(stage: Path) -> str:
    """`1.h` and a digest of the package's files: another host's files make another NEVR."""
    return f"1.h{tree_digest(stage)[:12]}"
