"""altai.repo: the repositories of a release as yum and dnf read them, rendered from the layout's
`altai.repo.j2`, for the installer (the tree's top) and for the release package (a constant file whose
base URL is a yum variable)."""

from __future__ import annotations

import re
from pathlib import Path

from altai_release.core.templates import render, render_remembered
from altai_release.layout.model import ReleaseLayout
from altai_release.rpm.manifest import Manifest


def base_url_var(layout: ReleaseLayout) -> str:
    """The yum variable that holds the base URL of the release a host follows (/etc/yum/vars/NAME)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", layout.name) + "_baseurl"


def repo_file(
    layout: ReleaseLayout,
    base_url: str,
    manifest: Manifest,
    memo: Path | None = None,
    key_url: str | None = None,
    constant: bool = False,
) -> str:
    """altai.repo's text; with `memo`, kept there for the next run with the same layout and templates. An
    upstream repository that is empty in `manifest` and whose key has no public key file is left out: its
    `gpgkey=` would name a key the tree cannot publish (until a package of it brings one). `constant`: the
    release package's, the same for every release of the layout (the base URL is the yum variable
    `base_url_var`, every repository that can hold packages is there, the version is not)."""
    filled = {e.repository for e in manifest.entries} if not constant else set()
    repos = [
        {
            "id": f"{layout.name}-{name}",
            "name": name,
            "path": repo.path,
            "signed_by": repo.signed_by,
            # repo_gpgcheck: the metadata is signed by the metadata key, which may be another
            "key_names": list(dict.fromkeys([repo.signed_by, layout.metadata_signer.name])),
            "sources_only": repo.content == "sources",
        }
        for name, repo in layout.repositories.items()
        if name in filled or repo.content != "upstream" or layout.keys[repo.signed_by].file is not None
    ]
    context = {
        "release": layout.name,
        "version": layout.version,
        "priority": layout.priority,
        "metadata_expire": layout.metadata_expire,
        "base_url": base_url.rstrip("/"),
        "key_url": key_url,  # where the keys are read from (the release package's: /etc/pki/rpm-gpg)
        "base_var": base_url_var(layout) if constant else "",
        "repositories": repos,
    }
    if memo is not None:
        return render_remembered(layout.templates, "altai.repo.j2", context, memo)
    return render(layout.templates, "altai.repo.j2", context)
