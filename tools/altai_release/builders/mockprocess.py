"""mock as a process: run with a bound on its output and its time, stopped with the rest of the run
(SIGTERM to each one's process group: mock unmounts its chroot itself), and its failure explained from the
log that holds the reason, as kojid reads mock's logs."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

from altai_release.core import runner
from altai_release.core.capture import KeptOutput, drain
from altai_release.core.errors import MockError

BUILD_TIMEOUT = 4 * 3600
OUTPUT_LIMIT = 2 * 1024 * 1024  # of mock's own output (its progress; the build's is in build.log)
CONFIG_ERROR = 3  # mock's ConfigError


class MockProcesses:
    """The mocks a run has running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self.aborted = threading.Event()

    def abort(self) -> None:
        """Stop every running mock: SIGTERM to its process group, which mock handles (it unmounts)."""
        self.aborted.set()
        with self._lock:
            running = list(self._running)
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)

    def run(self, argv: list[str], name: str) -> tuple[int, str]:
        """mock's exit status and (bounded) output; stopped by abort() or the build timeout."""
        try:
            proc = subprocess.Popen(  # noqa: S603 - an argv list, no shell
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: abort() signals mock and its children
            )
        except OSError as exc:
            raise MockError(f"{name}: mock did not run: {exc.strerror or exc}", argv) from exc
        kept = KeptOutput(OUTPUT_LIMIT)
        assert proc.stdout is not None
        reader = drain(proc.stdout, kept)
        with self._lock:
            self._running.add(proc)
        try:
            if self.aborted.is_set():
                os.killpg(proc.pid, signal.SIGTERM)
            expired = threading.Event()

            def expire() -> None:  # a timer, not Popen.wait(timeout=...), which polls with sleeps
                expired.set()
                os.killpg(proc.pid, signal.SIGTERM)

            timer = threading.Timer(BUILD_TIMEOUT, expire)
            timer.start()
            try:
                proc.wait()
            finally:
                timer.cancel()
            if expired.is_set():
                raise MockError(f"{name}: mock took longer than {BUILD_TIMEOUT}s; stopped", argv)
        finally:
            with self._lock:
                self._running.discard(proc)
            reader.join(30)
        return proc.returncode, kept.text()


def _said(log: str) -> bool:
    """Whether rpmbuild ran: mock's build.log holds only its `Mock Version` line until it does."""
    return any(line.strip() and "Mock Version" not in line for line in log.splitlines())


def _root_log_reason(log: str) -> str:
    missing = re.findall(r"No matching package to install: '([^']+)'", log)
    if missing:
        return "no package provides the BuildRequires " + ", ".join(dict.fromkeys(missing))
    for line in reversed(log.splitlines()):
        if "Error" in line or "ERROR" in line:
            return line.split(":  ", 1)[-1].strip()
    return ""


def failure(name: str, logdir: Path, status: int, output: str, logs: Mapping[str, str], argv: list[str]) -> MockError:
    """The reason of a failed mock, from the log that holds it (as kojid reads mock's logs)."""
    if status == CONFIG_ERROR:
        why = runner.reason(output, ("ERROR:",), last=True)
        return MockError(f"{name}: mock refused its config (log: {logdir / 'mock.log'})", argv, why)
    if _said(logs.get("build.log", "")):
        why = runner.reason(logs["build.log"], ("error:", "Bad exit status"), after="RPM build errors:", last=True)
        return MockError(f"{name}: build failed in mock (log: {logdir / 'build.log'})", argv, why)
    if "root.log" in logs:
        why = _root_log_reason(logs["root.log"]) or runner.reason(output, ("ERROR:",), last=True)
        return MockError(f"{name}: mock could not prepare the build root (log: {logdir / 'root.log'})", argv, why)
    why = runner.reason(output, ("ERROR:",), last=True)
    return MockError(f"{name}: mock failed (exit {status}; log: {logdir / 'mock.log'})", argv, why)
