"""The README's examples run as written, from the checkout: only where they would write outside the test
(an output directory, the release tree) or name a file of the reader's (an old manifest, an SRPM) is the
path replaced by one of the test's."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from altai_testlib import ROOT, doc_commands


def test_readme_examples_run_as_written(tmp_path):
    examples = doc_commands(ROOT / "README.md")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    out, state, srpms = tmp_path / "out", tmp_path / "state", tmp_path / "srpms"
    ran: dict[str, subprocess.CompletedProcess[str]] = {}
    made_srpm: Path | None = None
    for line in examples:
        tool, *argv = shlex.split(line)
        if "--outdir" in argv:
            argv[argv.index("--outdir") + 1] = str(srpms)
        if tool == "tools/build.py":
            argv += ["--out", str(out), "--state-dir", str(state)]
            if "--diff" in argv:
                argv[argv.index("--diff") + 1] = str(out / "manifest.json")
        if tool == "tools/srpm2git.py":
            assert made_srpm is not None
            argv = [str(made_srpm), str(tmp_path / "imported")]
        proc = subprocess.run(
            [sys.executable, str(ROOT / tool), *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        ran[line] = proc
        if tool == "tools/git2srpm.py":
            made_srpm = Path(proc.stdout.split()[-1])
    by_mode = {line.split(" ", 2)[1] if " --" in line else line: proc for line, proc in ran.items()}
    failures = {line: proc.stderr for line, proc in ran.items() if proc.returncode != 0}
    # the release job's example asks for the release key, which a reader's machine may not have: it says so
    release_job = [line for line in failures if "--require-key" in line]
    assert len(release_job) == 1
    assert "--require-key forbids a development key" in failures.pop(release_job[0])
    assert failures == {}, failures
    assert made_srpm is not None
    assert made_srpm.name.startswith("nova-fping-")
    assert made_srpm.parent == srpms
    assert (out / "centos6").is_dir()
    assert (tmp_path / "imported" / ".git").is_dir()
    # `make build`'s command publishes the release package beside nova-fping (the shipped layout asks for it)
    assert list((out / "centos6").glob("altai-release-*.noarch.rpm"))
    assert "nova-fping:" in by_mode["--explain"].stdout
    assert len(ran) >= 6
