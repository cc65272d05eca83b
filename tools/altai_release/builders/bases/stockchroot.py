"""A chroot config of mock's own (`[buildroot] base = "mock"`, `[release] mock_chroot`), found as mock finds it:
CHROOT.cfg in the config directory, else under `eol/`, where mock-core-configs keeps end-of-life releases such
as EPEL 6. A chroot the host's mock does not have is refused before the first build, naming the paths tried.
For build hosts that reach the chroot's mirrors."""

from __future__ import annotations

import re
from pathlib import Path

from altai_release.builders.bases.rootbase import RootBase, root_name
from altai_release.core.errors import InputError, MockError
from altai_release.core.hashing import file_sha256
from altai_release.layout import ReleaseLayout

_CHROOT = re.compile(r"^(eol/)?[A-Za-z0-9][A-Za-z0-9._+-]*$")


def stock_config(configdir: Path, chroot: str) -> str:
    """The stock config of `chroot`, relative to `configdir`, as mock finds it."""
    if not _CHROOT.match(chroot) or ".." in chroot:
        raise InputError(f"mock chroot {chroot!r}: expected a mock config name such as 'epel-6-x86_64'")
    tried = [f"{chroot}.cfg"] if chroot.startswith("eol/") else [f"{chroot}.cfg", f"eol/{chroot}.cfg"]
    for name in tried:
        if (configdir / name).is_file():
            return name
    paths = ", ".join(str(configdir / name) for name in tried)
    raise MockError(
        f"mock chroot {chroot!r}: this host's mock has no such config (tried {paths}); install "
        "mock-core-configs, or name another chroot in the layout's mock_chroot"
    )


def stock_root(layout: ReleaseLayout, configdir: Path) -> RootBase:
    chroot = layout.mock_chroot
    include = stock_config(configdir, chroot)
    digest = file_sha256(configdir / include)
    return RootBase(
        "mock",
        include,
        root_name(layout, chroot.removeprefix("eol/"), digest),
        (configdir,),
        chroot,
        digest,
        f"mock's chroot config {configdir / include}, from its mirrors",
    )
