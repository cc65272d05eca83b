"""The host-derived base as mock uses it (`[buildroot] base = "host"`): its repository of four RPMs (`hostbase`)
made on first use under the state directory, in a directory named by what it is made from (the host's
packages and their versions, the layout's macros files, this maker), with the chroot config mock includes.
Made under a lock (two first runs make it once), atomically (a killed run leaves no half of it), and made
anew when the host's packages change; older ones of this state directory are removed."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from altai_release.builders.bases import hostbase as hb
from altai_release.builders.bases.hostfiles import host_state, not_installed
from altai_release.builders.bases.rootbase import RootBase, generated_config, root_name
from altai_release.core.errors import InputError
from altai_release.core.hashing import file_sha256
from altai_release.core.recordlock import exclusive_lock
from altai_release.layout import ReleaseLayout

BASE_CONFIG = "base.cfg"
MAKE_SECONDS = 900.0  # another run making the base is waited for this long
DESCRIPTION = (
    "the host-derived base: this host's own userland (Debian's rpm 4.18, bash 5.2, Python 3.11) as four RPMs, a "
    "clean, minimal, reproducible build root, NOT CentOS 6 (point [buildroot] at an EL6 mirror for that)"
)


def host_root(layout: ReleaseLayout, state_dir: Path) -> RootBase:
    if shutil.which("dpkg-query") is None:
        raise InputError(
            f'{layout.file}: [buildroot] base = "host" is made from a Debian host\'s own packages (dpkg-query), '
            'which this host has none of: on Fedora or EL, build with base = "mock" (dnf install mock)'
        )
    key = hashlib.sha256(
        "\0".join(
            [
                hb.MAKER,
                *hb.BUILDSYS_PACKAGES,
                *hb.PYTHON_PACKAGES,
                *hb.BUILDSYS_PROVIDES,
                *hb.PYTHON_PROVIDES,
                host_state(),
                *(f"{debian} {' '.join(names)}" for debian, names in layout.buildroot.host_packages),
                *(f"{p.name} {file_sha256(p)}" for p in layout.macro_files),
            ]
        ).encode()
    ).hexdigest()
    top = state_dir / "buildroot"
    base = top / f"host-{key[:16]}"
    if not (base / BASE_CONFIG).is_file():
        top.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(top / ".host-base.lock", MAKE_SECONDS, "making the host-derived build root"):
            if not (base / BASE_CONFIG).is_file():
                _make(base, layout)
                for old in top.glob("host-*"):  # named by this module alone
                    if old != base and old.is_dir() and not old.is_symlink() and (old / BASE_CONFIG).is_file():
                        shutil.rmtree(old, ignore_errors=True)
    digest = file_sha256(base / "repo" / "repodata" / "repomd.xml")
    return RootBase(
        "host",
        str(base / BASE_CONFIG),
        root_name(layout, "host", digest),
        (base,),
        "altai-host-base",
        digest,
        DESCRIPTION,
    )


def _make(base: Path, layout: ReleaseLayout) -> None:
    """The four RPMs, their metadata and the chroot config, made beside `base` and renamed into place."""
    from altai_release.rpm.repodata import write_repodata  # createrepo_c loads when a base is made

    work = Path(tempfile.mkdtemp(prefix=".making-", dir=base.parent))
    try:
        repo = work / "repo"
        repo.mkdir()
        for package, requires in _packages(work, layout):
            built = hb.build_rpm(package, hb.release_of(package.stage), requires, work / "rpmbuild")
            shutil.copyfile(built, repo / built.name)
        write_repodata(repo, {}, hb.EPOCH)
        url = (base / "repo").as_uri()
        text = generated_config(
            "install buildsys-build redhat-rpm-config",
            [("altai-host-base", "the host-derived build root", url)],
            f"The host-derived build root of {layout.name}: {DESCRIPTION}.",
        )
        (work / BASE_CONFIG).write_text(text, encoding="utf-8")
        for stage in work.glob("stage-*"):
            shutil.rmtree(stage)
        shutil.rmtree(work / "rpmbuild")
        work.chmod(0o755)  # mkdtemp's 0700 would keep mock's unprivileged half out
        work.rename(base)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _packages(work: Path, layout: ReleaseLayout) -> list[tuple[hb.Package, tuple[str, ...]]]:
    filesystem = work / "stage-filesystem"
    hb.filesystem_stage(filesystem)
    buildsys_files = hb.collected(hb.BUILDSYS_PACKAGES)
    buildsys = work / "stage-buildsys"
    hb.stage_files(buildsys, buildsys_files)
    shell = buildsys / "usr" / "bin" / "sh"
    shell.unlink(missing_ok=True)
    shell.symlink_to("bash")  # EL's /bin/sh is bash; Debian's is dash
    (buildsys / "etc" / "rpm").mkdir(parents=True, exist_ok=True)
    (buildsys / "etc" / "rpm" / "macros.altai-dbpath").write_text("%_dbpath /var/lib/rpm\n")  # Debian's: ~/.rpmdb
    python = work / "stage-python"
    python_files = hb.collected(hb.PYTHON_PACKAGES, set(buildsys_files))
    hb.stage_files(python, python_files)
    macros = work / "stage-macros"
    (macros / "etc" / "rpm").mkdir(parents=True)
    for path in layout.macro_files:  # read last: after Debian's platform macros (%_initddir /etc/init.d)
        shutil.copyfile(path, macros / "etc" / "rpm" / f"macros.altai-{path.stem}")
    extras = _host_extras(work, layout, {*buildsys_files, *python_files})
    return [*_base_packages(filesystem, buildsys, python, macros), *extras]


def _host_extras(work: Path, layout: ReleaseLayout, beside: set[str]) -> list[tuple[hb.Package, tuple[str, ...]]]:
    """The layout's `host_packages`: one more RPM of those host packages' files, providing the names given.
    Their files under /etc stay out (links stay: Debian's alternatives): a host's configuration holds what
    its administrator put there (a password in a conffile), and a build root is where package code reads."""
    wanted = layout.buildroot.host_packages
    if not wanted:
        return []
    debian = [name for name, _ in wanted]
    missing = not_installed(debian)
    if missing:
        raise InputError(
            f"{layout.file}: buildroot.host_packages: {', '.join(missing)} not installed on this host "
            f"(apt-get install {' '.join(missing)})"
        )
    extras = work / "stage-extras"
    files = [f for f in hb.collected(debian, beside) if not f.startswith("/etc/") or os.path.islink(f)]
    hb.stage_files(extras, files)
    provides = tuple(sorted({p for _, names in wanted for p in names}))
    summary = f"This host's {', '.join(debian)}"
    return [(hb.Package("altai-host-extras", "1", "x86_64", provides, extras, summary), ("altai-python3",))]


def _base_packages(
    filesystem: Path, buildsys: Path, python: Path, macros: Path
) -> list[tuple[hb.Package, tuple[str, ...]]]:
    return [
        (hb.Package("filesystem", "6", "x86_64", ("setup", "basesystem"), filesystem, "The base directories"), ()),
        (
            hb.Package("altai-buildsys", "12", "x86_64", hb.BUILDSYS_PROVIDES, buildsys, "The build system"),
            ("filesystem",),
        ),
        (hb.Package("altai-python3", "3.11", "x86_64", hb.PYTHON_PROVIDES, python, "Python 3.11"), ("altai-buildsys",)),
        (hb.Package("altai-el-macros", "6", "noarch", hb.MACROS_PROVIDES, macros, "EL macros"), ("filesystem",)),
    ]
