#!/usr/bin/env python3
"""Run the benchmarks: `bench/run.py` (all) or `bench/run.py NAME...`, NAME one of git2srpm, fping, load, soak,
release, koji, farm, attestations, mock, reach (SOAK_MINUTES sets the soak's length, 10 unless given)."""

from __future__ import annotations

import compileall
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_attestations  # noqa: E402
import bench_fping  # noqa: E402
import bench_git2srpm  # noqa: E402
import bench_koji  # noqa: E402
import bench_koji_farm  # noqa: E402
import bench_load  # noqa: E402
import bench_mock  # noqa: E402
import bench_reach  # noqa: E402
import bench_release  # noqa: E402
import bench_soak  # noqa: E402

BENCHES = {
    "git2srpm": bench_git2srpm.main,
    "fping": bench_fping.main,
    "load": bench_load.main,
    "soak": bench_soak.main,
    "release": bench_release.main,
    "koji": bench_koji.main,
    "farm": bench_koji_farm.main,
    "attestations": bench_attestations.main,
    "mock": bench_mock.main,
    "reach": bench_reach.main,
}

if __name__ == "__main__":
    # every module's bytecode written first, as after a tool's first run (PYTHONDONTWRITEBYTECODE in the
    # shell would otherwise make each timed process compile the package again)
    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "tools"), quiet=1)
    wanted = sys.argv[1:] or list(BENCHES)
    unknown = [w for w in wanted if w not in BENCHES]
    if unknown:
        sys.exit(f"error: unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    for name in wanted:
        BENCHES[name]()
