"""The release job's acceptance of a published tree, with Debian's real dnf: every binary repository's
dependencies resolve (repoclosure, with the base OS repositories the operator names), and every package
of the manifest installs into a throwaway root with gpgcheck on, its signatures checked against the keys
the tree publishes. The tree is read through file:// URLs, whatever base URL altai.repo was made for."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import runner
from .errors import InputError, ToolError, VerificationError
from .layout import ReleaseLayout
from .manifest import MANIFEST_NAME, Manifest
from .release_outputs import repo_file

DNF_TIMEOUT = 1800.0


class AcceptanceError(VerificationError):
    """The published release does not resolve or does not install."""


def _dnf(root: Path, reposdir: Path, *args: str, plugins: tuple[str, ...] = ("--noplugins",)) -> tuple[int, str]:
    dnf = shutil.which("dnf")
    if dnf is None:
        raise InputError("dnf is not installed; run scripts/setup.sh")
    argv = [
        dnf,
        *plugins,
        "-y",
        f"--installroot={root}",
        f"--setopt=reposdir={reposdir}",
        f"--setopt=cachedir={root}/var/cache/dnf",
        "--setopt=install_weak_deps=0",
        *args,
    ]
    proc = runner.run(argv, ToolError, "dnf", timeout=DNF_TIMEOUT, check=False)
    return proc.returncode, runner.text(proc.stdout + proc.stderr)


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
        repo_text = repo_file(layout, release_dir.as_uri(), manifest)
        (reposdir / "altai.repo").write_text(repo_text, encoding="utf-8")
        binary = [n for n in binary if f"[{layout.name}-{n}]" in repo_text]  # an empty upstream one is left out
        if base_repos is not None:
            shutil.copyfile(base_repos, reposdir / "base.repo")
        checks = [f"--releasever={releasever}"]
        repo_ids = [f"--check={layout.name}-{name}" for name in binary]
        code, output = _dnf(root, reposdir, *checks, "repoclosure", *repo_ids, plugins=("--disableplugin=local",))
        if code != 0 or "unresolved deps" in output:
            missing = [ln.strip() for ln in output.splitlines() if ln.startswith("    ")][:5]
            hint = (
                "" if base_repos is not None else " (the base OS provides these: give its .repo file with --base-repos)"
            )
            raise AcceptanceError(f"{out}: repoclosure failed: {', '.join(missing) or runner.reason(output)}{hint}")
        names = sorted({e.name for e in manifest.entries if e.arch != "src" and e.repository in binary})
        if names:
            code, output = _dnf(root, reposdir, *checks, "install", *names)
            if code != 0:
                raise AcceptanceError(f"{out}: dnf cannot install the release: {runner.reason(output)}")
    installed = f"{len(names)} package{'s' if len(names) != 1 else ''}"
    return [f"repoclosure of {', '.join(binary)}", f"dnf install of {installed} with gpgcheck"]
