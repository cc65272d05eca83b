"""The unit layer's shared fixtures, made once per session with the real tools: a small git repository
(three commits, tags, attributes, a symlink) and two releases of one package built by rpmbuild (1.0 and 1.1,
binary and SRPM each, with their manifests)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from altai_release.layout import load_layout
from altai_release.rpm.manifest import Manifest, ManifestEntry
from altai_release.rpm.readback import read_facts

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
LAYOUT = load_layout()


def entry_of(path: Path, repository: str, source: dict[str, str] | None = None) -> ManifestEntry:
    facts = read_facts(path)
    n = facts.nevra
    rel = f"{LAYOUT.repositories[repository].path}/{path.name}"
    return ManifestEntry(repository, rel, n.name, n.name, n.epoch, n.version, n.release, n.arch,
                         facts.sha256, facts.header_sha256, "altai", facts.signer_keyid, source=source)  # fmt: skip


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
