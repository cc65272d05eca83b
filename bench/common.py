"""Helpers of the benchmarks: run a command several times, take the median wall time."""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"


def _as_the_checkout() -> None:
    """The benchmarks run the checkout's tool, in-process too: with what its tools/*.py give it."""
    sys.path.insert(0, str(TOOLS))
    from _bootstrap import checkout_environment

    for name, value in checkout_environment().items():
        os.environ.setdefault(name, value)


_as_the_checkout()

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_AUTHOR_DATE": "@1700000000 +0000",
    "GIT_COMMITTER_DATE": "@1700000000 +0000",
}


def run(argv: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env={**os.environ, **GIT_ENV, **(env or {})},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{proc.stderr[-2000:]}")


@dataclass
class Timing:
    name: str
    seconds: float


def median_time(
    name: str,
    argv: Sequence[str] | Callable[[], None],
    repeats: int,
    cwd: Path | None = None,
    reset: Callable[[], None] | None = None,
) -> Timing:
    samples = []
    for _ in range(repeats):
        if reset:
            reset()
        start = time.perf_counter()
        if callable(argv):
            argv()
        else:
            run(argv, cwd=cwd)
        samples.append(time.perf_counter() - start)
    return Timing(name, statistics.median(samples))


def fresh_dir(path: Path) -> Callable[[], None]:
    def reset() -> None:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)

    return reset


def print_table(title: str, rows: Sequence[Timing], baseline: Timing) -> None:
    print(f"\n{title}")
    print(f"{'what':<44} {'median wall':>12} {'ratio to ' + baseline.name:>24}")
    for row in rows:
        ratio = row.seconds / baseline.seconds if baseline.seconds else float("nan")
        print(f"{row.name:<44} {row.seconds * 1000:>9.1f} ms {ratio:>23.2f}x")


class CpuMeter:
    """CPU seconds used by this process and every process it starts from now on, daemons included (gpg-agent,
    bubblewrap's children): this process moves into a cgroup of its own, and the cgroup's counter is read.
    `None` from `open()` where no cgroup can be made (not root, no cpuacct or cgroup v2)."""

    def __init__(self, group: Path, usage: Callable[[Path], float], parent: Path) -> None:
        self.group, self._usage, self._parent = group, usage, parent

    @classmethod
    def open(cls) -> CpuMeter | None:
        name = f"altai-bench-{os.getpid()}"
        v1, v2 = Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup")
        if (v1 / "cpuacct.usage").exists():
            group, usage = v1 / name, lambda g: int((g / "cpuacct.usage").read_text()) / 1e9
        elif (v2 / "cgroup.controllers").exists():
            group, usage = v2 / name, lambda g: int(_keyed(g / "cpu.stat")["usage_usec"]) / 1e6
        else:
            return None
        try:
            group.mkdir()
            (group / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            return None
        return cls(group, usage, group.parent)

    def seconds(self) -> float:
        return self._usage(self.group)

    def close(self) -> None:
        """Everything still in the cgroup (this process, an agent left running) back to the parent."""
        for _ in range(3):
            pids = (self.group / "cgroup.procs").read_text().split()
            for pid in pids:
                with contextlib.suppress(OSError):  # gone already
                    (self._parent / "cgroup.procs").write_text(pid)
            try:
                self.group.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def _keyed(path: Path) -> dict[str, str]:
    return dict(line.split(None, 1) for line in path.read_text().splitlines() if line.strip())
