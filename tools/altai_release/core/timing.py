"""The per-step timing log of `--verbose`: each step of each package as it ends, and the totals per step
at the end of the run, so that the next person sees where a run's time goes without a profiler."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_totals: dict[str, list[float]] = {}
_enabled = False
_started = time.perf_counter()


def enable() -> None:
    global _enabled
    _enabled = True


@contextmanager
def step(name: str, subject: str = "") -> Iterator[None]:
    """Time the block as step `name` (of `subject`, a package) when the log is on."""
    if not _enabled:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        with _lock:
            _totals.setdefault(name, []).append(seconds)
            print(f"time: {subject + ': ' if subject else ''}{name} {seconds * 1000:.1f} ms", file=sys.stderr)


def summary() -> None:
    """The totals per step, largest first, and the process's own wall time (imports included)."""
    if not _enabled:
        return
    with _lock:
        rows = sorted(_totals.items(), key=lambda item: -sum(item[1]))
        wall = time.perf_counter() - _started
        print(f"time: total {wall * 1000:.1f} ms since the command's module was loaded; by step:", file=sys.stderr)
        for name, samples in rows:
            count = f" ({len(samples)}x)" if len(samples) > 1 else ""
            print(f"time:   {name}{count} {sum(samples) * 1000:.1f} ms", file=sys.stderr)
