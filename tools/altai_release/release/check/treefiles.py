"""A release tree as its checks read it (`--verify`, `--gate`): somebody's input, every file copied out of it as
a regular file reached without a link (`beneath`), within a bound, and only the copy read; and the verdicts
those checks give, one per file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from altai_release.core.errors import InputError
from altai_release.layout import ReleaseLayout
from altai_release.rpm.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest
from altai_release.sandbox.beneath import Unsafe, copy_out, read_bytes


@dataclass(frozen=True)
class Verdict:
    path: str  # relative to the release
    verdict: str  # reproduced, differs: …, no source, bad signature: …, signed (upstream), …
    ok: bool


@dataclass
class TreeFiles:
    """The tree's files as the checks read them: copies under `work`, each taken once."""

    tree: Path
    work: Path
    limit: int  # bytes of one package
    copies: dict[str, Path] = field(default_factory=dict)

    def copy(self, rel: str, limit: int | None = None) -> Path:
        if rel not in self.copies:
            target = self.work / "copies" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            self.copies[rel] = copy_out(self.tree, rel, target, limit or self.limit)
        return self.copies[rel]

    def read(self, rel: str, limit: int) -> bytes:
        return read_bytes(self.tree, rel, limit)


def tree_manifest(tree: Path) -> Manifest:
    """The manifest of the release tree `tree` (somebody's input: a regular file reached without a link)."""
    try:
        data = read_bytes(tree, MANIFEST_NAME, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise InputError(f"{tree}: not a release tree (no {MANIFEST_NAME})") from None
    except (Unsafe, OSError) as exc:
        raise InputError(f"{tree}: not a release tree ({MANIFEST_NAME}: {exc})") from exc
    return Manifest.from_bytes(data, tree / MANIFEST_NAME)


def built_repositories(layout: ReleaseLayout) -> list[str]:
    return [name for name, repo in layout.repositories.items() if repo.content in ("own", "rebuilt")]


def sources_path(layout: ReleaseLayout, repository: str) -> str:
    """Where the SRPMs of a repository's packages are: its sources repository, else beside them."""
    return layout.repositories[layout.repository_for(repository, "src")].path
