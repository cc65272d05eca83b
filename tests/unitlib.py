"""The unit layer's shared fixtures, made once per session with the real tools: a small git repository
(three commits, tags, attributes, a symlink) and two releases of one package built by rpmbuild (1.0 and 1.1,
binary and SRPM each, with their manifests)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from altai_release.layout import ReleaseLayout, load_layout
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest, ManifestEntry
from altai_release.rpm.readback import read_facts
from altai_release.signing.trust import TrustSources
from altai_testlib import SHIPPED_LAYOUT

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "A U Thor",
    "GIT_AUTHOR_EMAIL": "author@example.org",
    "GIT_COMMITTER_NAME": "C O Mitter",
    "GIT_COMMITTER_EMAIL": "committer@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(top: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(top), *args], env=ENV, check=True, capture_output=True, text=True).stdout


def commit_all(top: Path, message: str, when: int) -> str:
    git(top, "add", "-A")
    env = {**ENV, "GIT_AUTHOR_DATE": f"{when} +0000", "GIT_COMMITTER_DATE": f"{when} +0000"}
    subprocess.run(["git", "-C", str(top), "commit", "-q", "-m", message], env=env, check=True)
    return git(top, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="session")
def small_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three commits, two tags (one annotated), attributes, a symlink and an executable: git is the oracle."""
    top = tmp_path_factory.mktemp("repo")
    git(top, "init", "-q", "-b", "main")
    (top / "pkg").mkdir()
    (top / "pkg" / "pkg.spec").write_text("Name: pkg\n")
    (top / "pkg" / "src").mkdir()
    (top / "pkg" / "src" / "main.py").write_text("print('$Format:%H$')\n")
    (top / "pkg" / "run.sh").write_text("#!/bin/sh\n")
    (top / "pkg" / "run.sh").chmod(0o755)
    os.symlink("pkg.spec", top / "pkg" / "link")
    (top / "other.txt").write_text("elsewhere\n")
    commit_all(top, "first", 1_700_000_000)
    (top / ".gitattributes").write_text("*.txt export-ignore\n")
    (top / "pkg" / ".gitattributes").write_text("src/*.py export-subst\n")
    (top / "pkg" / "pkg.spec").write_text("Name: pkg\nVersion: 2\n")
    commit_all(top, "second", 1_700_000_100)
    (top / "other.txt").write_text("elsewhere, later\n")
    commit_all(top, "third", 1_700_000_200)
    git(top, "tag", "v1", "HEAD~1")
    git(top, "tag", "-a", "-m", "annotated", "v2")
    return top


RPM_SPEC = """\
Name: tool
Version: {version}
Release: 1%{{?dist}}
Summary: a test package
License: MIT and (GPLv2+ or BSD)
BuildArch: noarch
%description
A test package.
%install
mkdir -p %{{buildroot}}/usr/share/tool
echo {version} > %{{buildroot}}/usr/share/tool/version
%files
/usr/share/tool
%changelog
{changelog}
"""
CHANGES = {
    "1.0": "* Mon Jan 01 2024 Ann <ann@example.org> - 1.0-1\n- first\n",
    "1.1": "* Tue Feb 06 2024 Bob <bob@example.org> - 1.1-1\n- faster\n- smaller\n\n"
    "* Mon Jan 01 2024 Ann <ann@example.org> - 1.0-1\n- first\n",
}
LAYOUT = load_layout(SHIPPED_LAYOUT)


def entry_of(path: Path, repository: str, source: dict[str, str] | None = None) -> ManifestEntry:
    facts = read_facts(path)
    n = facts.nevra
    rel = f"{LAYOUT.repositories[repository].path}/{path.name}"
    return ManifestEntry(
        repository,
        rel,
        n.name,
        n.name,
        n.epoch,
        n.version,
        n.release,
        n.arch,
        facts.sha256,
        facts.header_sha256,
        "altai",
        facts.signer_keyid,
        source=source,
    )


def build_release(top: Path, version: str, work: Path) -> Manifest:
    spec = work / f"tool-{version}.spec"
    spec.write_text(RPM_SPEC.format(version=version, changelog=CHANGES[version]))
    argv = ["rpmbuild", "--quiet", "-ba", "--define", f"_topdir {work / version}", "--define", "dist .el6"]
    subprocess.run([*argv, "--define", "__python3 %{nil}", str(spec)], check=True, capture_output=True)
    (binary,) = (work / version / "RPMS").rglob("*.rpm")
    (source,) = (work / version / "SRPMS").glob("*.rpm")
    for path, repo in ((binary, "centos6"), (source, "centos6-srpms")):
        (top / LAYOUT.repositories[repo].path).mkdir(parents=True, exist_ok=True)
        (top / LAYOUT.repositories[repo].path / path.name).write_bytes(path.read_bytes())
    origin = {"kind": "git", "url": "https://git.example.org/tool.git", "ref": "HEAD", "commit": "c" * 40}
    entries = [
        entry_of(top / "centos6" / binary.name, "centos6"),
        entry_of(top / "centos6/SRPMS" / source.name, "centos6-srpms", origin),
    ]
    return Manifest("altai", version, entries, id=f"id-{version}", published=f"2024-02-0{version[-1]}T10:11:12Z")


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Manifest]]:
    work = tmp_path_factory.mktemp("rpms")
    made = {}
    for version in CHANGES:
        top = work / f"release-{version}"
        made[version] = (top, build_release(top, version, work))
    return made


SBOM = "metadata/altai-1.1.cdx.json"  # named as the release is (its manifest), not as the layout is now


def signed_tree(work: Path, release: tuple[Path, Manifest], identity: Any) -> tuple[Path, Manifest, bytes]:
    """The release `release` (as rpmbuild made it) signed by `identity` and written as a run writes it into
    `work/tree`: packages, repodata and their signatures, the SBOM, the statements, SHA256SUMS last."""
    from altai_release.release.attest.provenance import write_provenance
    from altai_release.release.publish.outputs import write_release
    from altai_release.signing.assignment import sign_packages

    staged = work / "staged"
    shutil.copytree(release[0], staged)  # as rpmbuild made them: signed here, in a copy
    sign_packages(identity, [staged / e.path for e in release[1].entries])
    entries = []
    for e in release[1].entries:
        facts = read_facts(staged / e.path)
        entries.append(replace(e, sha256=facts.sha256, signer_keyid=facts.signer_keyid))
    manifest = Manifest(release[1].release, release[1].version, entries)
    public = identity.keyring.export_public(identity.fingerprint)
    tree = work / "tree"
    tree.mkdir()
    write_release(
        tree,
        LAYOUT,
        manifest=manifest,
        new_files={e.path: staged / e.path for e in manifest.entries},
        previous=Manifest("altai", "0"),
        previous_dir=None,
        public_keys={"altai": public},
        repo_text="[altai]\n",
        built_logs={},
    )
    for repo in LAYOUT.repositories.values():
        identity.keyring.detach_sign(identity.fingerprint, tree / repo.path / "repodata" / "repomd.xml", None)
    assert write_provenance(tree, LAYOUT, Manifest.load(tree / MANIFEST_NAME), identity) == 1
    seal(tree, identity)
    return tree, manifest, public


def seal(tree: Path, identity: Any) -> None:
    """SHA256SUMS of the tree as it is now, signed: what a run writes last (a damaged copy is resealed to
    show one damage alone)."""
    from altai_release.release.publish.checksums import write_checksums

    (tree / "SHA256SUMS").unlink(missing_ok=True)  # a copy's files are hard links: never written through
    (tree / "SHA256SUMS.asc").unlink(missing_ok=True)
    identity.keyring.detach_sign(identity.fingerprint, write_checksums(tree), None)


def trusting(identity: Any, public: bytes) -> TrustSources:
    """A check that trusts `identity`'s key for the layout's key altai, as the gate trusts the run's."""
    return TrustSources(run_keys={"altai": (identity.fingerprint, public)})


def tree_failures(
    tree: Path, manifest: Manifest, work: Path, rpmdbs: Any, trust: TrustSources, layout: ReleaseLayout = LAYOUT
) -> dict[str, str]:
    """The first failure on each file of every check before a rebuild, as --verify reports them."""
    from altai_release.release.check.tree_check import check_tree
    from altai_release.release.check.treefiles import TreeFiles

    pins = trust.pins(layout, work / "k", tree)
    check = check_tree(layout, TreeFiles(tree, work, 1 << 30), manifest, rpmdbs, pins)
    found: dict[str, str] = {}
    for v in check.failed:
        found.setdefault(v.path, v.verdict)
    return found
