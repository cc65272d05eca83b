"""The next release, made beside the current one: the policy decides what it holds, the outputs write it,
the store publishes it. Returns nothing to publish when the next release would be the current one."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from .layout import ReleaseLayout
from .manifest import Manifest
from .release_outputs import repo_file, write_release
from .release_policy import NewFile, plan_release
from .release_store import ReleaseStore


def assemble_release(
    store: ReleaseStore,
    layout: ReleaseLayout,
    additions: Sequence[NewFile],
    replaced_origins: set[str],
    public_keys: Mapping[str, bytes],
    base_url: str | None,
    complete: bool = False,
    kept_origins: frozenset[str] = frozenset(),
    built_logs: Mapping[str, Path] | None = None,
) -> tuple[Path, Manifest] | None:
    """The directory and manifest of the next release, complete but not yet published; None when it would
    hold exactly what the current one does."""
    previous_dir = store.current()
    previous = store.current_manifest() or Manifest(layout.name, layout.version)
    plan = plan_release(layout, previous, additions, replaced_origins, complete, kept_origins)
    memo = store.cache / "rendered" / "altai.repo.json"
    repo_text = repo_file(layout, base_url or store.out.as_uri(), plan.manifest, memo)
    if (
        previous_dir is not None
        and not plan.new_files
        and plan.manifest.same_as(previous)
        and (previous_dir / "altai.repo").exists()
        and (previous_dir / "altai.repo").read_text(encoding="utf-8") == repo_text
    ):
        return None
    target = store.new_release_dir()
    try:
        write_release(
            target,
            layout,
            plan.manifest,
            plan.new_files,
            previous,
            previous_dir,
            public_keys,
            repo_text,
            built_logs or {},
        )
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target, plan.manifest
