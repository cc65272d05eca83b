"""The next release, made beside the current one: the policy decides what it holds, the outputs write it,
the store publishes it. Returns nothing to publish when the next release would be the current one."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from altai_release.layout import ReleaseLayout
from altai_release.layout.repo_file import repo_file
from altai_release.release.publish.outputs import write_release
from altai_release.release.publish.policy import NewFile, plan_release
from altai_release.release.publish.store import ReleaseStore
from altai_release.rpm.manifest import Manifest

log = logging.getLogger(__name__)


def assemble_release(
    store: ReleaseStore,
    layout: ReleaseLayout,
    *,
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
            manifest=plan.manifest,
            new_files=plan.new_files,
            previous=previous,
            previous_dir=previous_dir,
            public_keys=public_keys,
            repo_text=repo_text,
            built_logs=built_logs or {},
        )
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target, plan.manifest


def _counted(manifest: Manifest) -> str:
    binary = sum(e.arch != "src" for e in manifest.entries)
    sources = len(manifest.entries) - binary
    return f"{binary} package{'s' if binary != 1 else ''}, {sources} source package{'s' if sources != 1 else ''}"


def publish_next(
    store: ReleaseStore,
    layout: ReleaseLayout,
    gate: Callable[[Path, Manifest], list[str]] | None = None,
    reseal: Callable[[Path], None] | None = None,
    **assembly: Any,
) -> Manifest | None:
    """Assemble the next release (`assembly`: assemble_release's keywords), let `gate` seal and check the
    complete tree before anyone sees it (it raises to refuse it: the tree is removed, the current release
    stays; it returns what it checked, which the notes and the page then say, and `reseal` then signs the
    tree's files anew), and publish it; the manifest of the release now published (None when there is
    none)."""
    previous_dir = store.current()
    previous = store.current_manifest() or Manifest(layout.name, layout.version)
    assembled = assemble_release(store, layout, **assembly)
    if assembled is None:
        log.info("%s: nothing changed, the release stays as it is", store.out)
        return store.current_manifest()
    release_dir, manifest = assembled
    if gate is not None:
        try:
            checks = gate(release_dir, manifest)
            if checks:
                from altai_release.release.publish.notes import CHECKS_FILE, write_notes

                (release_dir / CHECKS_FILE).parent.mkdir(exist_ok=True)
                (release_dir / CHECKS_FILE).write_text(json.dumps({"checks": checks}, indent=2) + "\n")
                write_notes(layout, manifest, previous, release_dir, previous_dir)
                if reseal is not None:
                    reseal(release_dir)
        except BaseException:
            shutil.rmtree(release_dir, ignore_errors=True)
            raise
    store.publish(release_dir)
    log.info("published %s -> %s (%s)", store.out, release_dir.name, _counted(manifest))
    return manifest
