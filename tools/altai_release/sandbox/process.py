"""One sandboxed process as the host sees it: started under its rlimits and in its cgroup, from an empty
environment, its output kept head and tail within a bound, its wall time enforced by a timer, and a limit it
hits named as such."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from altai_release.core.capture import KeptOutput, drain
from altai_release.core.errors import SandboxError, SandboxLimitError
from altai_release.core.limits import SandboxLimits
from altai_release.sandbox.cgroups import SandboxCgroup

BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "HOME": "/nonexistent-home",
}


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


# Sets the rlimits (file size in 512-byte blocks, no core dumps, the address space in KiB or "none"), joins
# the cgroup(s) named before `--` (the whole tree started from here stays in them), then becomes the rest of
# its arguments: one shell, no further exec. No value from a spec or a user is ever part of this text.
_SANDBOX_START = (
    'ulimit -c 0 && ulimit -f "$1" && { [ "$2" = none ] || ulimit -v "$2"; } || exit 125; shift 2; '
    'for f do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; done; '
    'while [ "$1" != -- ]; do shift; done; shift; exec "$@"'
)


def _namespace_inits(top: int) -> list[int]:
    """The descendants of `top` that are PID 1 of a namespace of their own."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(b")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    inits, todo = [], [top]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if len(nspid) > 1 and nspid[-1] == "1":
                inits.append(child)
            else:
                todo.append(child)
    return inits


_running: set[Running] = set()
_running_lock = threading.Lock()


def kill_running() -> None:
    """End every sandboxed step of this process now (SIGTERM or Ctrl-C of the tool): a build thread waiting
    on its sandbox returns at once, instead of the run waiting for rpmbuild to finish."""
    with _running_lock:
        steps = list(_running)
    for step in steps:
        step.kill()


class Running:
    """One sandboxed process: its cgroup, its limits, and bounded keepers of its output."""

    def __init__(
        self, limits: SandboxLimits, bwrap_argv: list[str], what: str, stdin: bool, fds: tuple[int, ...] = ()
    ) -> None:
        self.what = what
        self.limits = limits
        self.argv = bwrap_argv
        self.stdout_kept = KeptOutput(limits.output)
        self.stderr_kept = KeptOutput(limits.output)
        self.cgroup = SandboxCgroup.create(limits)
        blocks = str(max(limits.file_size // 512, 1))
        # no memory cgroup: each process's address space instead
        address_space = "none" if self.cgroup is not None else str(limits.memory // 1024)
        procs = [str(p) for p in self.cgroup.procs_files] if self.cgroup else []
        wrapper = ["/bin/sh", "-c", _SANDBOX_START, "sh", blocks, address_space, *procs, "--", *bwrap_argv]
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - an argv list, no shell string built from input
                wrapper,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(BASE_ENV),  # nothing of ours reaches bubblewrap's PID 1, whose environ the step can read
                cwd="/",  # nor the name of our working directory (PWD)
                pass_fds=fds,  # a user namespace to join
            )
        except OSError as exc:
            self._remove_cgroup()
            raise SandboxError(f"{what}: cannot start the sandbox: {exc.strerror or exc}", bwrap_argv) from exc
        assert self.proc.stderr is not None
        self._threads = [drain(self.proc.stderr, self.stderr_kept)]
        with _running_lock:
            _running.add(self)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.proc.poll() is None:
            self.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.cgroup is not None:
            self.cgroup.kill()  # whatever of the tree still holds its output pipes
        for thread in self._threads:
            thread.join(5)
        self._remove_cgroup()
        with _running_lock:
            _running.discard(self)

    def _remove_cgroup(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None

    def read_line(self, limit: int) -> bytes:
        """The first line of stdout (at most `limit` bytes); the rest is drained by `drain_stdout`."""
        assert self.proc.stdout is not None
        return self.proc.stdout.readline(limit)

    def drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        self._threads.append(drain(self.proc.stdout, self.stdout_kept))

    def kill(self) -> None:
        """End the step: SIGKILL to the init of its PID namespace, which takes every process of the step with
        it; the bubblewraps above it then end as they do, each reaping its child (killed from the top, they
        would leave their children to a PID 1 that may never reap them)."""
        if self.proc.poll() is not None:
            return
        inits = _namespace_inits(self.proc.pid)
        for pid in inits:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if not inits:  # not started yet, or already past
            self.proc.send_signal(signal.SIGKILL)

    def wait(self, seconds: float, stdin_data: bytes | None = None) -> Completed:
        """The step's end. Raises when it ran out of time or hit a limit of its cgroup (even when it then
        exited 0: a fork that failed may have been swallowed by the spec's shell)."""
        if stdin_data is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write(stdin_data)
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        # a timer kills it at the limit: Popen.wait(timeout=...) polls with sleeps of up to 50 ms, which
        # every build would pay on top of its time
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            self.kill()

        timer = threading.Timer(seconds, expire)
        timer.start()
        try:
            self.proc.wait()
        finally:
            timer.cancel()
        self._join()
        if expired.is_set():
            raise self._limit_error(f"{self.what}: stopped after {seconds:.0f}s, the sandbox's time limit")
        self.check_limits()
        return Completed(self.proc.returncode, self.stdout_kept.text(), self.stderr_kept.text())

    def _join(self) -> None:
        for thread in self._threads:
            thread.join(30)  # the PID namespace ended with bubblewrap: nothing holds the pipes any more

    def _limit_error(self, message: str) -> SandboxLimitError:
        error = SandboxLimitError(message, self.argv)
        error.output = self.stdout_kept.text() + self.stderr_kept.text()
        return error

    def check_limits(self) -> None:
        hit = self.cgroup.exceeded() if self.cgroup is not None else None
        too_large = self.proc.returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ)
        if hit is None and (too_large or "File size limit exceeded" in self.stderr_kept.text()):
            hit = f"its file size limit of {self.limits.file_size // (1024 * 1024)} MiB"
        if hit is not None:
            raise self._limit_error(f"{self.what}: stopped at {hit} (the layout's [sandbox] sets it)")
