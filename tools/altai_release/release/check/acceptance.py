"""The release job's acceptance of a published tree, with Debian's real dnf: every binary repository's
dependencies resolve (repoclosure, with the base OS repositories the operator names), and every package
of the manifest installs into a throwaway root with gpgcheck on, its signatures checked against the keys
the tree publishes, its scriptlets run. The tree is read through file:// URLs, whatever base URL altai.repo
was made for. dnf runs in the sandbox (`dnf`): no package code runs as the host's root, and nothing dnf
starts outlives the check."""

from __future__ import annotations

import shutil
from pathlib import Path

from altai_release.core import runner
from altai_release.core.errors import InputError, VerificationError
from altai_release.layout import ReleaseLayout
from altai_release.layout.repo_file import repo_file
from altai_release.release.check.dnf import DnfRoot
from altai_release.release.check.treefiles import tree_manifest
from altai_release.rpm.manifest import Manifest
from altai_release.rpm.nevra import Nevra
from altai_release.sandbox.scratch import held_workdir, scratch


class AcceptanceError(VerificationError):
    """The published release does not resolve or does not install."""


def accept(
    layout: ReleaseLayout, out: Path, base_repos: Path | None, releasever: str = "6", shown_as: str | None = None
) -> list[str]:
    """Check the release published at `out`; returns what was checked, raises AcceptanceError naming the
    first failure, and the tree as `shown_as` (the gate's tree is gone when its error is read)."""
    release_dir = out.resolve()
    said = shown_as or str(out)
    manifest = tree_manifest(release_dir)  # never through a link
    if base_repos is not None and not base_repos.is_file():
        raise InputError(f"--base-repos {base_repos}: no such .repo file")
    binary = [n for n, r in layout.repositories.items() if r.content != "sources"]
    with held_workdir("altai-accept-") as tmp:
        root, reposdir = tmp / "root", tmp / "repos"
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
                raise AcceptanceError(f"{said}: repoclosure failed: {why}{hint}")
            if names:
                done = dnf.install(names)
                if done.returncode != 0:
                    raise AcceptanceError(f"{said}: dnf cannot install the release: {runner.reason(done.output)}")
                _all_installed(said, manifest, binary, dnf.installed())
    installed = f"{len(names)} package{'s' if len(names) != 1 else ''}"
    return [
        f"repoclosure of {', '.join(binary)}",
        f"dnf install of {installed} with gpgcheck, each NEVRA in rpm's database",
    ]


def _all_installed(out: str, manifest: Manifest, binary: list[str], installed: set[str]) -> None:
    """Every NEVRA of the manifest's binary repositories is what rpm's database holds after the install (a
    package that Obsoletes or Provides another's name makes dnf install something else)."""
    wanted = {e.nevra for e in manifest.entries if e.arch != "src" and e.repository in binary}
    # the newest of each name and arch is what dnf installs; an older one stays in the tree for downgrades
    newest: dict[tuple[str, str], Nevra] = {}
    for nevra in wanted:
        key = (nevra.name, nevra.arch)
        if key not in newest or nevra.compare_evr(newest[key]) > 0:
            newest[key] = nevra
    missing = sorted(
        str(n) for n in newest.values() if f"{n.name}-{n.epoch or 0}:{n.version}-{n.release}.{n.arch}" not in installed
    )
    if missing:
        raise AcceptanceError(
            f"{out}: dnf said it installed the release, but rpm's database lacks {', '.join(missing[:5])}"
            f"{' and more' if len(missing) > 5 else ''}: a package of the release replaces or hides another"
        )
