"""The CI release job, `.ci/release`, run as a CI system runs it: the shipped layout, a release key in
GNUPGHOME (never the development key), base OS stand-ins for the packages' Requires. It publishes, accepts
the tree with dnf (repoclosure, install with gpgcheck) and keeps its JSON summary as an artifact; a missing
key or an unresolvable dependency makes it fail."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from altai_testlib import ROOT
from rpmtools import base_os_repo, make_key


def release_job(tmp: Path, gnupghome: Path, base_repos: Path | None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GNUPGHOME": str(gnupghome),
        "ALTAI_OUT": str(tmp / "out"),
        "ALTAI_ARTIFACTS": str(tmp / "artifacts"),
        **({"ALTAI_BASE_REPOS": str(base_repos)} if base_repos else {}),
    }
    return subprocess.run(
        ["bash", str(ROOT / ".ci" / "release")],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )


@pytest.fixture
def release_key(tmp_path: Path) -> Path:
    home = tmp_path / "release-gnupg"
    make_key(home, "Altai Release Team <release@altai.example>")
    return home


def test_release_job_builds_signs_publishes_and_accepts(tmp_path, release_key):
    run = release_job(tmp_path, release_key, base_os_repo(tmp_path))
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "artifacts" / "release.json").read_text())
    assert summary["ok"] is True
    packages = summary["packages"]
    assert sorted(p["package"] for p in packages) == ["altai-release", "instance-notifier", "nova-fping"]
    assert all(p["signed_by"]["development"] is False for p in packages)
    # the shipped layout imports nothing from EPEL or CentOS updates: those empty repositories, whose keys
    # the tree cannot publish, are not in altai.repo, so acceptance checks the two that are
    assert "ok: repoclosure of centos6, misc" in run.stderr
    assert "ok: dnf install of 3 packages with gpgcheck" in run.stderr  # altai-release too
    assert "ok: every binary package reproduced from its SRPM" in run.stderr
    # the notes and the page say what the gate checked, and name the release package to install
    notes = (tmp_path / "out" / "RELEASE-NOTES.md").read_text()
    assert "## Checked before it was published" in notes
    assert "- dnf: repoclosure of centos6, misc" in notes
    assert "reproduced from its SRPM with mock" in notes
    assert f"dnf install {(tmp_path / 'out').as_uri()}/centos6/altai-release-1.0.2-1.el6.noarch.rpm" in notes
    page = (tmp_path / "out" / "index.html").read_text()
    assert "Checked before it was published" in page
    assert "altai-release-1.0.2-1.el6.noarch.rpm" in page
    assert (tmp_path / "artifacts" / "RELEASE-NOTES.md").is_file()
    assert (tmp_path / "out" / "index.html").is_file()


def test_release_job_fails_without_the_release_key(tmp_path):
    empty = tmp_path / "empty-gnupg"
    empty.mkdir(mode=0o700)
    run = release_job(tmp_path, empty, base_os_repo(tmp_path))
    assert run.returncode == 4, run.stderr
    assert "--require-key forbids a development key" in run.stderr
    assert not (tmp_path / "out").exists()
    # the summary is still an artifact, and says why (it was 0 bytes on every failure)
    summary = json.loads((tmp_path / "artifacts" / "release.json").read_text())
    assert summary["ok"] is False
    assert summary["exit_code"] == 4
    assert "--require-key forbids a development key" in summary["error"]


def test_release_job_fails_when_a_dependency_does_not_resolve(tmp_path, release_key):
    run = release_job(tmp_path, release_key, base_os_repo(tmp_path, leave_out="python3-novaclient-"))
    assert run.returncode == 4, run.stderr
    assert "repoclosure failed" in run.stderr
    assert "python3-novaclient" in run.stderr
    assert "give its .repo file with --base-repos" not in run.stderr  # the job gives one: no hint
    error = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")][-1]
    assert "error: the new release (not published): repoclosure failed" in error  # not a staging path, gone
    # without a base: the job names its own variable, not only the tool's option
    again = release_job(tmp_path, release_key, None)
    assert again.returncode == 4, again.stderr
    assert "release: set ALTAI_BASE_REPOS to a .repo file" in again.stderr
    # accepted before it is published: the release that fails acceptance is never the current one
    assert not (tmp_path / "out").exists()
    assert "the published tree did not change" in run.stderr
