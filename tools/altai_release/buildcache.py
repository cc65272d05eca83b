"""Incremental builds: the content hash of everything a package's build depends on.

A package whose key did not change since its files were published keeps those signed files; nothing is
packed, built or signed again. The key covers the git trees of the package's directory and of its spec's
directory (spec, extra sources, patches) at the ref, the package's own last change time (its
SOURCE_DATE_EPOCH), the dist, the builder and its configuration, the layout's macro files and the
signing key."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path, PurePosixPath

from .gitsource import GitSource, repo_relative_path
from .layout import PackageEntry, ReleaseLayout
from .srpm import choose_spec

CACHE_FORMAT = 1


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_key(entry: PackageEntry, layout: ReleaseLayout, builder: str, fingerprint: str) -> tuple[str, str]:
    """(key, commit) of a package's build inputs at its ref."""
    with tempfile.TemporaryDirectory(prefix="altai-key-") as tmp:
        source = GitSource.open(entry.git, Path(tmp) / "clone")
        try:
            commit = source.resolve(entry.ref)
            subdir = repo_relative_path("subdir", entry.subdir) if entry.subdir else PurePosixPath()
            spec = (repo_relative_path("spec", entry.spec) if entry.spec
                    else choose_spec(source, source.list_files(commit, subdir), subdir))  # fmt: skip
            mock = [entry.mock_chroot, _file_digest(layout.templates / "mock.cfg.j2")] if builder == "mock" else None
            material = {
                "format": CACHE_FORMAT,
                "tree": source.tree(commit, subdir).hexsha,
                "spec_dir": source.tree(commit, spec.parent).hexsha,
                "spec": str(spec),
                "changed": source.last_change_time(commit, [subdir, spec.parent]),
                "dist": entry.dist,
                "builder": builder,
                "mock": mock,
                "macros": [_file_digest(m) for m in layout.macro_files],
                "key": fingerprint,
            }
            hexsha = commit.hexsha
        finally:
            source.close()
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest(), hexsha


class BuildCache:
    """OUT.store/cache/<package>.json: the key of the last published build and its release paths."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, package: str) -> dict[str, object] | None:
        try:
            data: dict[str, object] = json.loads((self.directory / f"{package}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if data.get("format") == CACHE_FORMAT else None

    def put(self, package: str, key: str, commit: str, paths: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{package}.json"
        tmp = target.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"format": CACHE_FORMAT, "key": key, "commit": commit,
                                       "paths": sorted(paths)}), encoding="utf-8")  # fmt: skip
            os.replace(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
