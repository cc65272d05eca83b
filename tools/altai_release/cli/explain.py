"""`tools/build.py --explain PACKAGE`: where a package comes from, where it goes and who signs it, without
building anything (a git ref is resolved to its commit; nothing is downloaded or generated)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from altai_release.builders.rootrecord import of_release
from altai_release.core import runner
from altai_release.core.errors import GitError
from altai_release.core.paths import check_not_option, is_git_url
from altai_release.git import GitSource
from altai_release.layout import ReleaseLayout
from altai_release.rpm.manifest import Manifest
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


def build_root_facts(layout: ReleaseLayout, name: str, published: Manifest | None) -> dict[str, Any]:
    """The build root a package gets, what its published build was built against of the release (and
    whether it is a rebuild, what for), and the published packages built against it: what a change of it
    reaches under the layout's rebuild policy."""
    settings = layout.buildroot
    entries = [e for e in (published.entries if published else []) if e.origin == name and e.arch != "src"]
    against = sorted({p["nevra"] for e in entries for p in e.build_root or [] if of_release(p)})
    return {
        "base": settings.base,
        "packages": list(settings.packages),
        "rebuild": settings.rebuild,
        "rebuild_on_base_change": settings.rebuild_on_base_change,
        "published_against": against if entries else None,
        "rebuilt_for": next((e.rebuilt_for for e in entries if e.rebuilt_for), None),
        "reaches": _reaches(published, name, settings.rebuild) if published is not None else [],
    }


def _reaches(published: Manifest, name: str, policy: str) -> list[str]:
    """The published packages a change of `name` rebuilds: those built against it (`direct`), and those
    built against them in turn (`transitive`)."""
    if policy == "local":
        return []
    provides: dict[str, set[str]] = {}
    needs: dict[str, set[str]] = {}
    for e in published.entries:
        if e.arch != "src":
            provides.setdefault(e.origin, set()).add(e.name)
            needs.setdefault(e.origin, set()).update(
                p["nevra"].rsplit("-", 2)[0] for p in e.build_root or [] if of_release(p)
            )
    found: list[str] = []
    changed = [name]
    while changed:
        names = set().union(*(provides.get(c, set()) for c in changed))
        changed = sorted(o for o, n in needs.items() if o != name and o not in found and n & names)
        found += changed
        if policy == "direct":
            break
    return sorted(found)


def facts(
    layout: ReleaseLayout,
    name: str,
    downloads: Path,
    gnupghome: Path | None = None,
    published: Manifest | None = None,
) -> dict[str, Any]:
    """What --explain says of a package, as values (--json prints them): its source, its repository, dist and
    chroot, its build root and what it reaches, and its signing key."""
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
    found["build_root"] = build_root_facts(layout, name, published)
    return found


def _root_lines(root: dict[str, Any]) -> list[tuple[str, str]]:
    extra = f" + {', '.join(root['packages'])}" if root["packages"] else ""
    lines = [
        ("build root", f"base {root['base']!r}{extra}; its BuildRequires installed from the release's repositories")
    ]
    if root["published_against"] is not None:
        against = ", ".join(root["published_against"]) or "no package of the release"
        rebuilt = f" ({root['rebuilt_for']})" if root["rebuilt_for"] else ""
        lines.append(("built against", f"{against}{rebuilt}"))
    reached = ", ".join(root["reaches"]) or "no other package"
    lines.append(("a change", f"rebuilds {reached} (the layout's [buildroot] rebuild = {root['rebuild']!r})"))
    return lines


def explain(
    layout: ReleaseLayout,
    name: str,
    downloads: Path,
    gnupghome: Path | None = None,
    published: Manifest | None = None,
) -> list[tuple[str, str]]:
    """(what, value) pairs, as the text view says them."""
    said = facts(layout, name, downloads, gnupghome, published)
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
        *_root_lines(said["build_root"]),
        ("signing key", f"{key['name']} = {key['id']!r} ({state}{fallback})"),
    ]
