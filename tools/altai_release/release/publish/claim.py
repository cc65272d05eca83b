"""What OUT may be before a run writes to it: never `/`, a home directory, the current directory, this checkout
or what holds them; when a directory, a release tree this tool made (its manifest's packages, repodata, keys,
notes, logs, metadata and SHA256SUMS, and nothing else: no other file, no link)."""

from __future__ import annotations

import os
from pathlib import Path

from altai_release.core.errors import AltaiError, InputError
from altai_release.core.paths import METADATA_DIR
from altai_release.layout.places import git_root
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest

# what this tool writes into a release tree besides the packages its manifest lists
_TOP_FILES = {MANIFEST_NAME, "altai.repo", "RELEASE-NOTES.md", "index.html", "SHA256SUMS", "SHA256SUMS.asc"}
_TOP_DIRS = {"logs", METADATA_DIR}


def foreign_entries(tree: Path) -> list[str]:
    """What in `tree` this tool did not write (a tree it made holds its manifest's packages, repodata,
    keys, notes, logs and metadata, and nothing else; never a link): empty for one of its trees."""
    try:
        listed = {e.path for e in Manifest.load(tree / MANIFEST_NAME).entries}
    except (AltaiError, OSError):
        return [MANIFEST_NAME] if not (tree / MANIFEST_NAME).exists() else [f"{MANIFEST_NAME} (unreadable)"]
    foreign = []
    for top, dirs, files in os.walk(tree):
        rel_top = Path(top).relative_to(tree)
        for name in sorted(dirs + files):
            rel = rel_top / name
            path = tree / rel
            if path.is_symlink() or not (path.is_dir() or path.is_file()) or path.is_file() and not _ours(rel, listed):
                foreign.append(str(rel))
        dirs[:] = [d for d in dirs if not (Path(top) / d).is_symlink()]
    return foreign


def _ours(rel: Path, listed: set[str]) -> bool:
    if str(rel) in listed or rel.parts[0] in _TOP_DIRS or "repodata" in rel.parts[:-1]:
        return True
    return len(rel.parts) == 1 and (rel.name in _TOP_FILES or rel.name.startswith("RPM-GPG-KEY-"))


def refuse_precious(out: Path) -> None:
    """`/`, a home directory, the current directory, the git work tree it is in (the layout's repository), and
    what holds them: never an OUT."""
    real = Path(os.path.realpath(out))
    homes = [Path.home(), Path("/root"), *(Path("/home").glob("*") if Path("/home").is_dir() else [])]
    for precious, what in (
        (Path.cwd(), "the current directory"),
        *((root, "the git work tree of the current directory") for root in (git_root(Path.cwd()),) if root),
        *((home, "a home directory") for home in homes),
    ):
        held = Path(os.path.realpath(precious))
        if real == held or held.is_relative_to(real):
            shown = what if real == held else f"a directory that holds {what} ({held})"
            raise InputError(f"--out {out}: {shown}; the release tree needs a directory of its own")
    if real.parent == real:
        raise InputError(f"--out {out}: the root directory; the release tree needs a directory of its own")
