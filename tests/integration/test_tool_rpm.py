"""The tool packages itself (issue 51): scripts/tool-rpm.py builds altai-release-tools with the tool, in mock
on the host-derived base, from this repository at HEAD and its dependencies' wheels (a lookaside source,
checked against packaging/sources); %check ran the unit layer. `--verify` rebuilds it from its SRPM to the
same bytes. dnf installs the RPM into an installroot from the same base, and the installed commands answer
--version and --help there, as nobody of the host."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib

from altai_release.builders.bases.hostroot import host_root
from altai_release.layout import load_layout
from altai_release.release.check.dnf import DnfRoot
from altai_testlib import ROOT


def test_the_tool_builds_its_own_rpm_which_installs_and_runs(tmp_path, state_dir):
    work = tmp_path / "tool-rpm"
    env = {**os.environ, "ALTAI_STATE_DIR": str(state_dir), "GNUPGHOME": str(tmp_path / "gnupg")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tool-rpm.py"), str(work)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    rpm = work / "out" / "tools" / f"altai-release-tools-{version}-1.host.x86_64.rpm"
    assert done.stdout.strip().splitlines()[-1] == str(rpm)
    build_log = (work / "out" / "logs" / "altai-release-tools" / "build.log").read_text()
    assert "Executing(%check)" in build_log
    summary = re.search(r"^(\d+) passed, (\d+) skipped, (\d+) deselected in ", build_log, re.M)
    assert summary, build_log[-2000:]  # the unit layer ran in the build root, and nothing failed
    assert int(summary.group(1)) > 400
    tested = r"^unit layer against /builddir/build/BUILDROOT/[^/]+/usr/lib/altai-release-tools/altai_release/"
    assert re.search(tested, build_log, re.M)  # the copy %install made, not the sources' tools/
    files = subprocess.run(["rpm", "-qlp", str(rpm)], capture_output=True, text=True, check=True).stdout.split()
    for command in ("build", "git2srpm", "srpm2git"):
        assert f"/usr/bin/altai-{command}" in files
        assert f"/usr/share/man/man1/altai-{command}.1.gz" in files
        assert f"/usr/share/bash-completion/completions/altai-{command}" in files
        assert f"/usr/share/zsh/site-functions/_altai-{command}" in files
    requires = subprocess.run(["rpm", "-qp", "--requires", str(rpm)], capture_output=True, text=True, check=True)
    assert not [r for r in requires.stdout.splitlines() if ".so" in r and "libc.so" not in r], requires.stdout

    # the release's promise, kept for the tool's own package too: its SRPM rebuilds to the same RPM
    config = work / "config" / "repo-layout" / "altai.toml"
    verify = [sys.executable, str(ROOT / "tools" / "build.py"), "--layout", str(config), "--out", str(work / "out")]
    verified = subprocess.run(
        [*verify, "--verify", "--builder", "mock"], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"ok    tools/{rpm.name}: reproduced" in verified.stdout.splitlines()
    assert "1 binary package reproduced, 0 failed" in verified.stderr

    base = host_root(load_layout(config), state_dir).shown[0] / "repo"
    root, reposdir = tmp_path / "installroot", tmp_path / "repos.d"
    reposdir.mkdir()
    (reposdir / "tool.repo").write_text(
        f"[base]\nname=the host-derived base\nbaseurl={base.as_uri()}\ngpgcheck=0\n\n"
        f"[tools]\nname=the tool\nbaseurl={(work / 'out' / 'tools').as_uri()}\ngpgcheck=1\n"
        f"gpgkey={(work / 'out' / 'RPM-GPG-KEY-tools').as_uri()}\n"
    )
    dnf = DnfRoot(root, reposdir)
    installed = dnf.run("install", "altai-release-tools")
    assert installed.returncode == 0, installed.output[-3000:]
    assert any(n.startswith(f"altai-release-tools-0:{version}-1.host") for n in dnf.installed())
    said = dnf.run_installed(["/usr/bin/altai-build", "--version"], "altai-build --version")
    assert said.returncode == 0, said.output
    assert said.output.strip() == f"altai-build (altai-release) {version}"
    helped = dnf.run_installed(["/usr/bin/altai-git2srpm", "--help"], "altai-git2srpm --help")
    assert helped.returncode == 0, helped.output
    assert helped.output.startswith("usage: altai-git2srpm")
    assert "example:\n  altai-git2srpm --dist .el6" in helped.output
