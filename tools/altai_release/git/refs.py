"""Refs read from their files, in git's own lookup order, for the no-op fast path: a caller trusts the answer
only to recognise the commit it saw before; anything that is not a plain ref is left to git."""

from __future__ import annotations

import re
from pathlib import Path

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_PLAIN_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def peek_ref(location: str, ref: str) -> str | None:
    """The object id a plain ref names in a local repository, read from its ref files in git's own order
    (refs/<ref>, refs/tags/, refs/heads/, refs/remotes/; loose before packed) without running git; None
    whenever it is not that simple (git then answers). For a fast path only: a caller trusts it just to
    recognise the commit it saw before."""
    git_dir = Path(location) / ".git"
    if not git_dir.is_dir() or (git_dir / "commondir").exists():
        return None
    if _HEX40.match(ref):
        return ref
    if ref != "HEAD" and (not _PLAIN_REF.match(ref) or ".." in ref or ref.endswith((".lock", "/", "."))):
        return None
    if ref == "HEAD" or ref.startswith("refs/"):
        candidates = [ref]
    elif ref.isupper():
        return None  # FETCH_HEAD and other pseudo-refs
    else:
        candidates = [
            f"refs/{ref}",
            f"refs/tags/{ref}",
            f"refs/heads/{ref}",
            f"refs/remotes/{ref}",
            f"refs/remotes/{ref}/HEAD",
        ]
    packed: dict[str, str] | None = None
    for name in candidates:
        for _ in range(5):  # a symbolic ref (HEAD -> refs/heads/main), a few levels at most
            try:
                value = (git_dir / name).read_text(encoding="utf-8").strip()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                if packed is None:
                    packed = _packed_refs(git_dir)
                value = packed.get(name, "")
            except (OSError, UnicodeDecodeError):
                return None
            if value.startswith("ref: "):
                name = value.removeprefix("ref: ")
                if not name.startswith("refs/") or ".." in name.split("/"):
                    return None
                continue
            if _HEX40.match(value):
                return value
            break  # not this candidate (an unborn branch is "no such ref" too)
    return None


def _packed_refs(git_dir: Path) -> dict[str, str]:
    try:
        lines = (git_dir / "packed-refs").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    refs = {}
    for line in lines:
        if line and line[0] not in "#^":
            sha, _, name = line.partition(" ")
            refs[name] = sha
    return refs
