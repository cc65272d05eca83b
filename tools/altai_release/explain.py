"""`tools/build.py --explain PACKAGE`: where a package comes from, where it goes and who signs it, without
building anything (a git ref is resolved to its commit; nothing is downloaded or generated)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import runner
from .errors import GitError
from .gitsource import GitSource
from .layout import ReleaseLayout
from .paths import check_not_option, is_git_url
from .signing import Keyring, default_gnupghome


def _commit_of(location: str, ref: str) -> str:
    """The commit a ref names: read from a local repository, asked of a remote one (`git ls-remote`: nothing
    is cloned); a ref that is not a branch or tag of the remote is resolved only when it is built."""
    if not is_git_url(location):
        with tempfile.TemporaryDirectory(prefix="altai-explain-") as tmp:
            source = GitSource.open(location, Path(tmp) / "unused")
            try:
                return str(source.resolve(ref).hexsha)
            finally:
                source.close()
    check_not_option("ref", ref)
    git = shutil.which("git") or "git"
    proc = runner.run([git, "ls-remote", "--", location, ref], GitError, f"{location}: git ls-remote",
                      env={"GIT_TERMINAL_PROMPT": "0"})  # fmt: skip
    lines = runner.text(proc.stdout).split()
    return lines[0] if lines else "(resolved when it is built: not a branch or tag of the remote)"


def explain(layout: ReleaseLayout, name: str, downloads: Path, gnupghome: Path | None = None) -> list[str]:
    entry = layout.package(name)
    lines = [f"{name}:"]
    if entry.srpm is not None:
        cached = (downloads / "sha256" / entry.srpm.sha256).is_file()
        lines += [
            f"  source:      source RPM {entry.srpm.url}",
            f"  sha256:      {entry.srpm.sha256}{' (in the download cache)' if cached else ''}",
            f"  signed by:   {entry.srpm.key or '(no signature required)'} upstream, checked before the build",
        ]
    else:
        assert entry.git is not None
        commit = _commit_of(entry.git, entry.ref)
        lines += [
            f"  source:      git {entry.git}",
            f"  ref:         {entry.ref} = commit {commit}",
            f"  subdir:      {entry.subdir or '(the repository root)'}",
            f"  spec:        {entry.spec or '(the only *.spec in the subdir)'}",
        ]
    repo = layout.repositories[entry.repository]
    sources = layout.repositories[repo.sources].path if repo.sources else "(none)"
    key = layout.key_for(entry.repository)
    keyring = Keyring(gnupghome or default_gnupghome())
    present = keyring.secret_fingerprint(key.id)
    state = f"secret key {present[-16:]} in {keyring.home}" if present else f"no secret key in {keyring.home}"
    fallback = "; falls back to the development key" if key.development and not present else ""
    lines += [
        f"  repository:  {entry.repository} ({repo.path}/, SRPMs in {sources}/)",
        f"  dist:        {entry.dist or '(none)'}; mock chroot {entry.mock_chroot}",
        f"  signing key: {key.name} = {key.id!r} ({state}{fallback})",
    ]
    return lines
