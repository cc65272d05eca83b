"""A package built from a git repository that holds its spec: the commit is resolved once per run (a
URL cloned once into the run's directory), and the same commit gives the cache key and the SRPM."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..gitsource import GitSource
from ..layout import PackageEntry
from ..paths import repo_relative_path
from ..srpm import SrpmRequest, SrpmResult, choose_spec, make_srpm


@dataclass
class GitPackageSource:
    entry: PackageEntry
    repository: str  # a local path: the user's repository, or our bare clone of the URL
    commit: str
    subdir: PurePosixPath
    spec: PurePosixPath
    _material: dict[str, object]
    lookaside: str | None = None
    downloads: Path | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def description(self) -> str:
        return f"{self.entry.git} at {self.entry.ref} (commit {self.commit[:12]})"

    @property
    def provenance(self) -> dict[str, str]:
        assert self.entry.git is not None
        return {"kind": "git", "url": self.entry.git, "ref": self.entry.ref, "commit": self.commit}

    @classmethod
    def resolve(
        cls, entry: PackageEntry, workdir: Path, named: Sequence[str], lookaside: str | None, downloads: Path
    ) -> GitPackageSource:
        assert entry.git is not None  # a git package
        source = GitSource.open(entry.git, workdir / f"clone-{entry.name}")
        try:
            commit = source.resolve(entry.ref)
            subdir = repo_relative_path("subdir", entry.subdir) if entry.subdir else PurePosixPath()
            spec = (
                repo_relative_path("spec", entry.spec)
                if entry.spec
                else choose_spec(source, source.list_files(commit, subdir), subdir)
            )
            resolved = cls(
                entry, str(source.git_dir if not source.is_local else entry.git), commit.hexsha, subdir, spec, {}
            )
            resolved._material = resolved._read_material(source, named)
            resolved.lookaside, resolved.downloads = lookaside, downloads
            return resolved
        finally:
            source.close()

    def _read_material(self, source: GitSource, named: Sequence[str]) -> dict[str, object]:
        commit = source.resolve(self.commit)
        named_paths = [repo_relative_path("source", n) for n in named]
        return {
            "named": list(named),
            "tree": source.tree(commit, self.subdir).hexsha,
            "spec": str(self.spec),
            "files": {str(p): source.blob_id(commit, p) for p in [self.spec, *named_paths]},
            "changed": source.last_change_time(commit, [self.subdir, self.spec, *named_paths]),
        }

    def material(self, named: Sequence[str]) -> Mapping[str, object]:
        if list(named) == self._material["named"]:
            return self._material
        source = GitSource.open(self.repository, Path("/nonexistent"), shown_as=self.entry.git)
        try:
            return self._read_material(source, named)
        finally:
            source.close()

    def make_srpm(self, outdir: Path, macro_files: Sequence[Path], warn: Callable[[str], None]) -> SrpmResult:
        request = SrpmRequest(
            repo=self.repository,
            ref=self.commit,
            subdir=self.entry.subdir,
            spec=str(self.spec),
            outdir=outdir,
            dist=self.entry.dist or None,
            keep_tarball=False,
            macro_files=macro_files,
            shown_as=self.entry.git if self.repository != self.entry.git else None,
            lookaside=self.lookaside,
            download_cache=self.downloads,
        )
        return make_srpm(request, warn=warn)
