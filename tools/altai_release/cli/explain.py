"""`tools/build.py --explain PACKAGE`: where a package comes from, where it goes and who signs it, without
building anything (a git ref is resolved to its commit; nothing is downloaded or generated)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from altai_release.core import runner
from altai_release.core.errors import GitError
from altai_release.core.paths import check_not_option, is_git_url
from altai_release.git import GitSource
from altai_release.layout import ReleaseLayout
from altai_release.signing.keyring import Keyring, default_gnupghome


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


def facts(layout: ReleaseLayout, name: str, downloads: Path, gnupghome: Path | None = None) -> dict[str, Any]:
    """What --explain says of a package, as values (--json prints them): its source, its repository, dist and
    chroot, and its signing key."""
    entry = layout.package(name)
    found: dict[str, Any] = {"package": name}
    if entry.srpm is not None:
        found["source"] = {
            "kind": "srpm",
            "url": entry.srpm.url,
            "sha256": entry.srpm.sha256,
            "in_download_cache": (downloads / "sha256" / entry.srpm.sha256).is_file(),
            "upstream_key": entry.srpm.key,
        }
    elif entry.generated:
        found["source"] = {"kind": "release-package", "layout": str(layout.file)}
    else:
        assert entry.git is not None
        commit = _commit_of(entry.git, entry.ref)
        found["source"] = {
            "kind": "git",
            "git": entry.git,
            "ref": entry.ref,
            "commit": commit if len(commit) == 40 else None,
            "subdir": entry.subdir,
            "spec": entry.spec,
        }
    repo = layout.repositories[entry.repository]
    found["repository"] = {
        "name": entry.repository,
        "path": repo.path,
        "sources_path": layout.repositories[repo.sources].path if repo.sources else None,
    }
    found |= {"dist": entry.dist or None, "mock_chroot": entry.mock_chroot}
    key = layout.key_for(entry.repository)
    keyring = Keyring(gnupghome or default_gnupghome())
    present = keyring.secret_fingerprint(key.id)
    found["signing_key"] = {
        "name": key.name,
        "id": key.id,
        "gnupghome": str(keyring.home),
        "secret_key_fingerprint": present,
        "development_fallback": bool(key.development and not present),
    }
    return found


def explain(layout: ReleaseLayout, name: str, downloads: Path, gnupghome: Path | None = None) -> list[tuple[str, str]]:
    """(what, value) pairs, as the text view says them."""
    said = facts(layout, name, downloads, gnupghome)
    source, repo, key = said["source"], said["repository"], said["signing_key"]
    if source["kind"] == "srpm":
        lines = [
            ("source", f"source RPM {source['url']}"),
            ("sha256", f"{source['sha256']}{' (in the download cache)' if source['in_download_cache'] else ''}"),
            ("signed by", f"{source['upstream_key'] or '(no signature required)'} upstream, checked before the build"),
        ]
    elif source["kind"] == "release-package":
        lines = [("source", f"the repositories and keys of the layout {source['layout']} (the release package)")]
    else:
        commit = source["commit"] or "(resolved when it is built: not a branch or tag of the remote)"
        lines = [
            ("source", f"git {source['git']}"),
            ("ref", f"{source['ref']} = commit {commit}"),
            ("subdir", f"{source['subdir'] or '(the repository root)'}"),
            ("spec", f"{source['spec'] or '(the only *.spec in the subdir)'}"),
        ]
    fpr = key["secret_key_fingerprint"]
    state = f"secret key {fpr[-16:]} in {key['gnupghome']}" if fpr else f"no secret key in {key['gnupghome']}"
    fallback = "; falls back to the development key" if key["development_fallback"] else ""
    return [
        *lines,
        ("repository", f"{repo['name']} ({repo['path']}/, SRPMs in {repo['sources_path'] or '(none)'}/)"),
        ("dist", f"{said['dist'] or '(none)'}; mock chroot {said['mock_chroot']}"),
        ("signing key", f"{key['name']} = {key['id']!r} ({state}{fallback})"),
    ]
