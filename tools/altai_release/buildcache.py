"""Incremental builds: the content hash of everything a package's build depends on.

A package whose key did not change since its files were published keeps those signed files; nothing is
packed, built or signed again. The key covers exactly what the package is made of, at the ref: the git
tree of its directory, its spec file, and the files that spec named when it was last built (extra sources,
patches: as long as the spec is the same, it names the same files); then the package's own last change
time (its SOURCE_DATE_EPOCH), the dist, the builder and its configuration, the layout's macro files and
the signing key. Another spec or file beside the spec is not an input."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from .gitsource import GitSource, repo_relative_path
from .layout import PackageEntry, ReleaseLayout
from .srpm import choose_spec

CACHE_FORMAT = 2


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_key(entry: PackageEntry, layout: ReleaseLayout, builder: str, fingerprint: str,
               named: Sequence[str] = ()) -> tuple[str, str]:  # fmt: skip
    """(key, commit) of a package's build inputs at its ref; `named`: the files its spec named last time."""
    with tempfile.TemporaryDirectory(prefix="altai-key-") as tmp:
        source = GitSource.open(entry.git, Path(tmp) / "clone")
        try:
            commit = source.resolve(entry.ref)
            subdir = repo_relative_path("subdir", entry.subdir) if entry.subdir else PurePosixPath()
            spec = (repo_relative_path("spec", entry.spec) if entry.spec
                    else choose_spec(source, source.list_files(commit, subdir), subdir))  # fmt: skip
            mock = [entry.mock_chroot, _file_digest(layout.templates / "mock.cfg.j2")] if builder == "mock" else None
            named_paths = [repo_relative_path("source", n) for n in named]
            material = {
                "format": CACHE_FORMAT,
                "tree": source.tree(commit, subdir).hexsha,
                "spec": str(spec),
                "files": {str(p): source.blob_id(commit, p) for p in [spec, *named_paths]},
                "changed": source.last_change_time(commit, [subdir, spec, *named_paths]),
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

    def named(self, package: str) -> list[str]:
        """The files the package's spec named at its last recorded build."""
        record = self.get(package)
        named = record.get("named") if record else None
        return [n for n in named if isinstance(n, str)] if isinstance(named, list) else []

    def put(self, package: str, key: str, commit: str, paths: list[str], named: Sequence[str] = ()) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{package}.json"
        tmp = target.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"format": CACHE_FORMAT, "key": key, "commit": commit,
                                       "paths": sorted(paths), "named": sorted(named)}), encoding="utf-8")  # fmt: skip
            os.replace(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
