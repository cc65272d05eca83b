"""How a host installs a release, as its notes and page say: the URL of the release package (its Release may
be -2, -3…) and a package of ours that the release holds."""

from __future__ import annotations

import re
from pathlib import Path

from altai_release.layout import ReleaseLayout
from altai_release.rpm.manifest import Manifest


def release_base_url(layout: ReleaseLayout, release_dir: Path) -> str | None:
    """The base URL the release was made for, read from its altai.repo (the first repository's baseurl)."""
    try:
        text = (release_dir / "altai.repo").read_text(encoding="utf-8")
    except OSError:
        return None
    for repo in layout.repositories.values():
        found = re.search(rf"(?m)^baseurl=(\S+)/{re.escape(repo.path)}/$", text)
        if found:
            return found.group(1)
    return None


def release_package(layout: ReleaseLayout, manifest: Manifest, release_dir: Path) -> str | None:
    """The URL a host installs the release package from (its Release may be -2, -3…), when there is one."""
    entry = next((e for e in manifest.entries if e.origin == f"{layout.name}-release" and e.arch != "src"), None)
    base = release_base_url(layout, release_dir)
    return f"{base}/{entry.path}" if entry is not None and base is not None else None


def primary_package(layout: ReleaseLayout, manifest: Manifest) -> str:
    """A binary package of ours that this release holds, to name in the install lines (the layout's first
    package may not be in it: a run of other packages published it)."""
    held = [e for e in manifest.entries if e.arch != "src"]
    for name, package in layout.packages.items():
        if package.generated:
            continue
        binaries = sorted(e.name for e in held if e.origin == name)
        if binaries:
            return name if name in binaries else binaries[0]
    return "PACKAGE"
