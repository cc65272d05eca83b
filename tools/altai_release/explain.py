"""`tools/build.py --explain PACKAGE`: where a package comes from, where it goes and who signs it, without
building anything (a git ref is resolved to its commit; nothing is downloaded or generated)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import runner
from .errors import GitError
from .git import GitSource
from .keyring import Keyring, default_gnupghome
from .layout import ReleaseLayout
from .paths import check_not_option, is_git_url


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
    proc = runner.run(
        [git, "ls-remote", "--", location, ref],
        GitError,
        f"{location}: git ls-remote",
        env={"GIT_TERMINAL_PROMPT": "0"},
    )
    lines = runner.text(proc.stdout).split()
    return lines[0] if lines else "(resolved when it is built: not a branch or tag of the remote)"


def explain(layout: ReleaseLayout, name: str, downloads: Path, gnupghome: Path | None = None) -> list[tuple[str, str]]:
    """(what, value) pairs: the package's source, its repository, dist and chroot, and its signing key."""
    entry = layout.package(name)
    lines: list[tuple[str, str]] = []
    if entry.srpm is not None:
        cached = (downloads / "sha256" / entry.srpm.sha256).is_file()
        lines += [
            ("source", f"source RPM {entry.srpm.url}"),
            ("sha256", f"{entry.srpm.sha256}{' (in the download cache)' if cached else ''}"),
            ("signed by", f"{entry.srpm.key or '(no signature required)'} upstream, checked before the build"),
        ]
    else:
        assert entry.git is not None
        commit = _commit_of(entry.git, entry.ref)
        lines += [
            ("source", f"git {entry.git}"),
            ("ref", f"{entry.ref} = commit {commit}"),
            ("subdir", f"{entry.subdir or '(the repository root)'}"),
            ("spec", f"{entry.spec or '(the only *.spec in the subdir)'}"),
        ]
    repo = layout.repositories[entry.repository]
    sources = layout.repositories[repo.sources].path if repo.sources else "(none)"
    key = layout.key_for(entry.repository)
    keyring = Keyring(gnupghome or default_gnupghome())
    present = keyring.secret_fingerprint(key.id)
    state = f"secret key {present[-16:]} in {keyring.home}" if present else f"no secret key in {keyring.home}"
    fallback = "; falls back to the development key" if key.development and not present else ""
    lines += [
        ("repository", f"{entry.repository} ({repo.path}/, SRPMs in {sources}/)"),
        ("dist", f"{entry.dist or '(none)'}; mock chroot {entry.mock_chroot}"),
        ("signing key", f"{key.name} = {key.id!r} ({state}{fallback})"),
    ]
    return lines
