"""A package built from a git repository that holds its spec: the commit is resolved once per run (a
URL cloned once into the run's directory), and the same commit gives the cache key and the SRPM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from altai_release.core.errors import InputError
from altai_release.core.limits import DEFAULT_DOWNLOAD_LIMITS, DownloadLimits
from altai_release.core.memo import recall, remember
from altai_release.core.paths import is_git_url, repo_relative_path
from altai_release.git import GitSource, peek_ref
from altai_release.layout import PackageEntry
from altai_release.specfile.rebuildspec import Rebuild

if TYPE_CHECKING:
    from altai_release.core.limits import SandboxLimits
    from altai_release.sources.srpm_from_git import SrpmResult


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
    download_limits: DownloadLimits = DEFAULT_DOWNLOAD_LIMITS
    rebuild: Rebuild | None = None  # set on the copy a rebuild of its dependents makes (for_rebuild)
    # what the release names as the package's repository: the layout's URL, or a local checkout's origin
    # remote (never the build machine's path when there is one); not an input: it changes no cache key
    public_url: str | None = None

    def for_rebuild(self, rebuild: Rebuild) -> GitPackageSource:
        """The same commit, its SRPM's Release bumped and its %changelog telling why."""
        return replace(self, rebuild=rebuild)

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def description(self) -> str:
        return f"{self.entry.git} at {self.entry.ref} (commit {self.commit[:12]})"

    @property
    def making(self) -> str:
        return "making the SRPM from"

    @property
    def provenance(self) -> dict[str, str]:
        assert self.entry.git is not None
        # the tree: what of the commit the package is made of (its subdir), as git names it
        facts = {"kind": "git", "url": self.public_url or self.entry.git, "ref": self.entry.ref, "commit": self.commit}
        facts |= {"tree": str(self._material["tree"]), "spec": str(self.spec)}
        return facts | ({"subdir": str(self.subdir)} if self.subdir.parts else {})

    @classmethod
    def resolve(
        cls,
        entry: PackageEntry,
        workdir: Path,
        named: Sequence[str],
        lookaside: str | None,
        downloads: Path,
        memo: Path | None = None,
    ) -> GitPackageSource:
        """`memo`: a directory where the resolution of a local repository's commit is kept; what a commit
        holds never changes, so when the ref still names the commit of the last run (read from the ref
        files, without git) the package resolves without running git at all."""
        assert entry.git is not None  # a git package
        question = {"git": entry.git, "subdir": entry.subdir, "spec": entry.spec, "named": list(named)}
        memo_file = memo / f"{entry.name}.json" if memo is not None else None
        # a shallow clone's history (and so a package's time) can still grow under the same commit
        local = not is_git_url(entry.git) and not (Path(entry.git) / ".git" / "shallow").exists()
        known = _recall(memo_file, question, peek_ref(entry.git, entry.ref)) if local else None
        if known is not None:
            resolved = cls(
                entry,
                entry.git,
                known["commit"],
                PurePosixPath(known["subdir"]),
                PurePosixPath(known["spec"]),
                known["material"],
            )
            resolved.lookaside, resolved.downloads = lookaside, downloads
            resolved.public_url = known.get("public_url")
            return resolved
        from altai_release.specfile.spec import choose_spec  # what making an SRPM needs loads when one is made

        source = GitSource.open(entry.git, workdir / f"clone-{entry.name}")
        try:
            commit = source.resolve(entry.ref)
            subdir = repo_relative_path("subdir", entry.subdir) if entry.subdir else PurePosixPath()
            spec = (
                repo_relative_path("spec", entry.spec)
                if entry.spec
                else choose_spec(source.location, source.list_files(commit, subdir), subdir)
            )
            resolved = cls(
                entry, str(source.git_dir if not source.is_local else entry.git), commit.hexsha, subdir, spec, {}
            )
            resolved._material = resolved._read_material(source, named)
            resolved.lookaside, resolved.downloads = lookaside, downloads
            resolved.public_url = source.public_url() if source.is_local else None
        finally:
            source.close()
        if memo_file is not None and local and source.is_local:
            answer: dict[str, object] = {"commit": commit.hexsha, "subdir": str(subdir), "spec": str(spec)}
            answer["material"] = resolved._material
            answer["public_url"] = resolved.public_url
            remember(memo_file, question, answer)
        return resolved

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

    def make_srpm(self, outdir: Path, macro_files: Sequence[Path], limits: SandboxLimits) -> SrpmResult:
        from altai_release.sources.srpm_from_git import SrpmRequest, make_srpm

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
            download_limits=self.download_limits,
            limits=limits,
            package=self.entry.name,
            rebuild=self.rebuild,
        )
        return make_srpm(request)


def _recall(memo_file: Path | None, question: Mapping[str, object], commit: str | None) -> dict[str, Any] | None:
    """The resolution kept for `commit`, when it is whole (a damaged memo is a miss, never an error)."""
    if memo_file is None or commit is None:
        return None
    answer = recall(memo_file, question)
    if answer is None or answer.get("commit") != commit or not isinstance(answer.get("material"), dict):
        return None
    if not all(isinstance(answer.get(k), str) for k in ("subdir", "spec")):
        return None
    if "public_url" not in answer or not isinstance(answer["public_url"], (str, type(None))):
        return None  # a memo of an earlier version
    try:  # paths inside the repository, as a fresh resolution makes them
        repo_relative_path("spec", answer["spec"])
        if answer["subdir"] != ".":
            repo_relative_path("subdir", answer["subdir"])
    except InputError:
        return None
    return answer
