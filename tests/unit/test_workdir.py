"""The work directory of a run outside a store (`--verify`, `--accept`): a killed run's, with the scratch
filesystem it mounted, is unmounted and removed by the next run; a live run's, and what the tool did not make,
are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from altai_release.core.limits import SandboxLimits
from altai_release.sandbox.scratch import WORK_MARKER, held_workdir, scratch

HOLD = """
import sys, time; sys.path.insert(0, "tools")
from altai_release.sandbox.scratch import held_workdir
with held_workdir(sys.argv[1]) as work:
    print(work, flush=True)
    time.sleep(60)
"""


def mounted(path: Path) -> bool:
    return any(line.split()[4] == str(path) for line in Path("/proc/self/mountinfo").read_text().splitlines())


@pytest.mark.skipif(os.geteuid() != 0, reason="only root mounts a scratch tmpfs (unprivileged runs make none)")
def test_a_killed_runs_work_and_mounts_go_with_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    prefix = "altai-verify-"
    killed = tmp_path / f"{prefix}killed"
    (killed / "root").mkdir(parents=True)
    (killed / WORK_MARKER).write_text("")
    with scratch(killed / "root", SandboxLimits(disk=1 << 20)):
        pass  # unmounted on leaving: mount it again as a killed run leaves it
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(killed / "root")], check=True)
    assert mounted(killed / "root")
    foreign = tmp_path / f"{prefix}somebodys"
    foreign.mkdir()
    (foreign / "data").write_text("not ours: no marker")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    live = subprocess.Popen([sys.executable, "-c", HOLD, prefix], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert live.stdout is not None
        held = Path(live.stdout.readline().strip())
        with held_workdir(prefix) as work:
            assert work.is_dir()
            assert not killed.exists()
            assert not mounted(killed / "root")
            assert held.is_dir()  # its run lives
            assert (foreign / "data").is_file()
        assert not work.exists()
    finally:
        live.kill()
        live.wait()
