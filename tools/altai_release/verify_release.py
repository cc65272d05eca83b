"""`tools/build.py --verify DIR`: the release's promise ("take a basic CentOS, take our source RPMs, and you
can build the whole release") as a command. Using only what DIR holds and the layout's build environment
(the sandboxed local rpmbuild with its macros), it checks

1. integrity: every package file is listed by its repository's metadata with its checksum, verifies
   against the RPM-GPG-KEY-* the tree publishes for its repository, and agrees with manifest.json;
2. completeness: every binary package of a repository we build has its SRPM in that repository's sources
   repository, and every published SRPM has its binaries (upstream repositories: signatures only);
3. reproducibility: each published SRPM is rebuilt, and each rebuilt binary's header (every tag, the
   payload digest among them; signatures aside) is compared with the published one's.

It writes nothing into DIR (a read-only copy will do); its work directory goes on every exit."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .builders import Builder, BuildJob, make_builder
from .errors import AltaiError, InputError
from .hashing import file_digest
from .layout import PackageEntry, ReleaseLayout
from .manifest import MANIFEST_NAME, Manifest
from .packages import read_facts, read_header
from .rpmheader import read_identity
from .scheduler import run_all
from .userfiles import KEY_FILE_LIMIT, read_bytes
from .verify import KeyDatabases, signature_verdicts


@dataclass(frozen=True)
class Verdict:
    path: str  # relative to the release
    verdict: str  # reproduced, differs: …, no source, bad signature: …, signed (upstream), …
    ok: bool


def verify_release(layout: ReleaseLayout, tree: Path, jobs: int, builder_kind: str = "rpmbuild") -> list[Verdict]:
    """Verdicts on every file of the release at `tree`, its SRPMs rebuilt by the builder a release would
    use (`builder_kind`: the sandboxed local rpmbuild, mock, or the layout's Koji hub)."""
    tree = tree.resolve()
    if not (tree / MANIFEST_NAME).is_file():
        raise InputError(f"{tree}: not a release tree (no {MANIFEST_NAME})")
    manifest = Manifest.load(tree / MANIFEST_NAME)
    with tempfile.TemporaryDirectory(prefix="altai-verify-") as work_name:
        work = Path(work_name)
        verdicts: dict[str, Verdict] = {}
        for problem in _integrity(layout, tree, manifest, KeyDatabases(work / "rpmdb")):
            verdicts.setdefault(problem.path, problem)
        for problem in _completeness(layout, tree):
            verdicts.setdefault(problem.path, problem)
        srpms = []
        for name in _built_repositories(layout):
            sources = _sources_path(layout, name)
            srpms += [f"{sources}/{p.name}" for p in _package_files(tree / sources, "*.src.rpm")]
        origins = {e.path: e.origin for e in manifest.entries}
        # mock's chroot gets the tree's own repositories for BuildRequires between its packages
        builder = make_builder(builder_kind, layout, tree, tree, work)
        builder.start({})

        def rebuild(srpm: str) -> list[Verdict]:
            where = work / "build" / Path(srpm).name
            return _rebuild_and_compare(layout, builder, tree, srpm, origins.get(srpm, ""), where)

        for found in run_all(srpms, max(1, jobs), rebuild).values():
            for verdict in found:
                verdicts.setdefault(verdict.path, verdict)
        for entry in manifest.entries:  # upstream packages: their signature is what is checked
            verdicts.setdefault(entry.path, Verdict(entry.path, "signed (upstream package, not rebuilt)", True))
        return [verdicts[p] for p in sorted(verdicts)]


def _integrity(layout: ReleaseLayout, tree: Path, manifest: Manifest, dbs: KeyDatabases) -> Iterator[Verdict]:
    from .repodata import read_packages  # createrepo_c loads for a verification only

    entries = {e.path: e for e in manifest.entries}
    for name, repo in layout.repositories.items():
        directory = tree / repo.path
        yield from _not_packages(tree, directory)
        files = _package_files(directory, "*.rpm")
        listed = read_packages(directory)
        key = tree / f"RPM-GPG-KEY-{repo.signed_by}"
        armored = read_bytes(key, "public key", KEY_FILE_LIMIT) if key.is_file() and files else None
        signatures = signature_verdicts(dbs, armored, files) if armored is not None else {}
        for path in files:
            rel = f"{repo.path}/{path.name}"
            pkg = listed.get(path.name)
            entry = entries.get(rel)
            if pkg is None:
                yield Verdict(rel, f"not in the metadata of repository {name}", False)
            elif file_digest(path, pkg.checksum_type) != pkg.pkgId:
                yield Verdict(rel, f"checksum differs from repository {name}'s metadata", False)
            elif not key.is_file():
                yield Verdict(rel, f"no key: the tree has no RPM-GPG-KEY-{repo.signed_by}", False)
            elif "signatures OK" not in signatures.get(str(path), ""):
                yield Verdict(rel, f"bad signature ({signatures.get(str(path)) or 'not checked'})", False)
            elif entry is None:
                yield Verdict(rel, f"not in {MANIFEST_NAME}", False)
            else:
                facts = read_facts(path)
                if facts.sha256 != entry.sha256 or facts.nevra != entry.nevra or entry.repository != name:
                    yield Verdict(rel, f"does not agree with {MANIFEST_NAME} (sha256, NEVRA or repository)", False)
        for rel, entry in entries.items():
            if entry.repository == name and not (tree / rel).is_file():
                yield Verdict(rel, f"in {MANIFEST_NAME} but missing from the tree", False)


def _package_files(directory: Path, pattern: str) -> list[Path]:
    """The tree's files matching `pattern` that are regular files, not links: a tree is somebody's input, and
    a link (to /dev/zero, to a key of this host) or a FIFO named like a package must not be read."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(pattern) if not p.is_symlink() and p.is_file())


def _not_packages(tree: Path, directory: Path) -> Iterator[Verdict]:
    """What is named like a package in `directory` but is not a regular file: named, never read."""
    if directory.is_dir():
        for path in sorted(directory.glob("*.rpm")):
            if path.is_symlink() or not path.is_file():
                what = "not a regular file (a link, FIFO or device): not read"
                yield Verdict(str(path.relative_to(tree)), what, False)


def _built_repositories(layout: ReleaseLayout) -> list[str]:
    return [name for name, repo in layout.repositories.items() if repo.content in ("own", "rebuilt")]


def _sources_path(layout: ReleaseLayout, repository: str) -> str:
    """Where the SRPMs of a repository's packages are: its sources repository, else beside them."""
    return layout.repositories[layout.repository_for(repository, "src")].path


def _completeness(layout: ReleaseLayout, tree: Path) -> Iterator[Verdict]:
    for name in _built_repositories(layout):
        repo = layout.repositories[name]
        sources_dir = tree / _sources_path(layout, name)
        srpms = {p.name for p in _package_files(sources_dir, "*.src.rpm")}
        binaries = [p for p in _package_files(tree / repo.path, "*.rpm") if not p.name.endswith(".src.rpm")]
        named = set()
        for path in binaries:
            source = read_identity(path).sourcerpm
            named.add(source)
            if source not in srpms:
                yield Verdict(f"{repo.path}/{path.name}", f"no source: {source} is not in {sources_dir.name}/", False)
        for srpm in sorted(srpms - named):
            yield Verdict(f"{_sources_path(layout, name)}/{srpm}", "no binary package of it published", False)


def _rebuild_and_compare(
    layout: ReleaseLayout, builder: Builder, tree: Path, srpm_rel: str, origin: str, work: Path
) -> list[Verdict]:
    srpm = tree / srpm_rel
    published = {p.name: p for p in _binaries_of(layout, tree, srpm.name)}
    local = work / "srpm" / srpm.name
    local.parent.mkdir(parents=True)
    local.write_bytes(srpm.read_bytes())  # never the tree's file: a builder may take it into its sandbox
    identity = read_identity(local).nevra
    entry = layout.packages.get(origin) or PackageEntry(
        identity.name, None, "", None, None, _repository_of(layout, srpm_rel), layout.dist, layout.mock_chroot
    )
    job = BuildJob(
        package=entry,
        srpm=local,
        workdir=work / "job",
        logdir=work / "logs",
        source_date_epoch=int(read_header(local)["buildtime"]),  # the SRPM's own: its package's time
        unique=f"verify-{identity.name}-{os.getpid()}",
        # what a result may be named: the binaries published from this SRPM, and their debuginfo
        packages=tuple(sorted({read_identity(p).nevra.name for p in published.values()})),
    )
    job.logdir.mkdir(parents=True)
    job.workdir.mkdir(parents=True)
    try:
        rebuilt = {p.name: p for p in builder.build(job).rpms}
    except (AltaiError, OSError) as exc:
        return [Verdict(srpm_rel, f"does not rebuild: {' '.join(str(exc).split())}", False)]
    verdicts = [Verdict(srpm_rel, f"rebuilt with {builder.name} ({len(rebuilt)} binary packages)", True)]
    for name, path in sorted(published.items()):
        rel = str(path.relative_to(tree))
        mine = rebuilt.get(name)
        if mine is None:
            verdicts.append(Verdict(rel, "differs: the rebuild makes no such package", False))
            continue
        differing = _differing_tags(path, mine)
        verdicts.append(Verdict(rel, f"differs: {', '.join(differing)}" if differing else "reproduced", not differing))
    return verdicts


def _repository_of(layout: ReleaseLayout, srpm_rel: str) -> str:
    """The repository of built packages whose SRPMs are where this one is."""
    for name in _built_repositories(layout):
        if srpm_rel.rsplit("/", 1)[0] == _sources_path(layout, name):
            return name
    raise InputError(f"{srpm_rel}: in no sources repository of the layout")


def _binaries_of(layout: ReleaseLayout, tree: Path, srpm_name: str) -> Iterator[Path]:
    for repo in layout.repositories.values():
        if repo.content in ("own", "rebuilt"):
            for path in _package_files(tree / repo.path, "*.rpm"):
                if not path.name.endswith(".src.rpm") and read_identity(path).sourcerpm == srpm_name:
                    yield path


def _differing_tags(published: Path, rebuilt: Path) -> list[str]:
    """The main header's tags that differ (signature tags, below 1000, aside), by name; the payload's files
    named when their digests differ."""
    from .rpmbindings import rpm_bindings

    rpm = rpm_bindings()
    a, b = read_header(published), read_header(rebuilt)
    tags = sorted(t for t in set(a.keys()) | set(b.keys()) if int(t) >= 1000)
    differing = [rpm.tagnames.get(int(t), str(t)).lower() for t in tags if a[t] != b[t]]
    if {"filedigests", "filemd5s"} & set(differing):  # rpm names the tag FILEMD5S, its older alias
        files = [f for f, x, y in zip(a["filenames"], a["filedigests"], b["filedigests"], strict=False) if x != y]
        differing.append("files " + ", ".join(str(f) for f in files[:5]))
    return differing
