"""The release job's acceptance of a published tree, with Debian's real dnf: every binary repository's
dependencies resolve (repoclosure, with the base OS repositories the operator names), and every package
of the manifest installs into a throwaway root with gpgcheck on, its signatures checked against the keys
the tree publishes, its scriptlets run. The tree is read through file:// URLs, whatever base URL altai.repo
was made for. dnf runs in the sandbox (`dnf`): no package code runs as the host's root, and nothing dnf
starts outlives the check."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from altai_release.core import runner
from altai_release.core.errors import InputError, VerificationError
from altai_release.layout import ReleaseLayout
from altai_release.layout.repo_file import repo_file
from altai_release.release.dnf import DnfRoot
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest
from altai_release.sandbox.scratch import scratch


class AcceptanceError(VerificationError):
    """The published release does not resolve or does not install."""


def accept(layout: ReleaseLayout, out: Path, base_repos: Path | None, releasever: str = "6") -> list[str]:
    """Check the release published at `out`; returns what was checked, raises AcceptanceError naming the
    first failure."""
    release_dir = out.resolve()
    manifest = Manifest.load(release_dir / MANIFEST_NAME)
    if base_repos is not None and not base_repos.is_file():
        raise InputError(f"--base-repos {base_repos}: no such .repo file")
    binary = [n for n, r in layout.repositories.items() if r.content != "sources"]
    with tempfile.TemporaryDirectory(prefix="altai-accept-") as tmp:
        root, reposdir = Path(tmp) / "root", Path(tmp) / "repos"
        reposdir.mkdir()
        reposdir.chmod(0o755)  # the sandbox's user reads it
        repo_text = repo_file(layout, release_dir.as_uri(), manifest)
        (reposdir / "altai.repo").write_text(repo_text, encoding="utf-8")
        binary = [n for n in binary if f"[{layout.name}-{n}]" in repo_text]  # an empty upstream one is left out
        if base_repos is not None:
            shutil.copyfile(base_repos, reposdir / "base.repo")
        names = sorted({e.name for e in manifest.entries if e.arch != "src" and e.repository in binary})
        with scratch(root, layout.sandbox, installation=True):
            dnf = DnfRoot(root, reposdir, layout.sandbox, releasever, [release_dir])
            repo_ids = [f"--check={layout.name}-{name}" for name in binary]
            closure = dnf.run("repoclosure", *repo_ids, plugins=("--disableplugin=local",))
            if closure.returncode != 0 or "unresolved deps" in closure.output:
                missing = [ln.strip() for ln in closure.output.splitlines() if ln.startswith("    ")][:5]
                hint = (
                    ""
                    if base_repos is not None
                    else " (the base OS provides these: give its .repo file with --base-repos)"
                )
                why = ", ".join(missing) or runner.reason(closure.output)
                raise AcceptanceError(f"{out}: repoclosure failed: {why}{hint}")
            if names:
                done = dnf.install(names)
                if done.returncode != 0:
                    raise AcceptanceError(f"{out}: dnf cannot install the release: {runner.reason(done.output)}")
    installed = f"{len(names)} package{'s' if len(names) != 1 else ''}"
    return [f"repoclosure of {', '.join(binary)}", f"dnf install of {installed} with gpgcheck"]
