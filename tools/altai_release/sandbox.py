"""Run a command from an untrusted spec inside bubblewrap: no network, a read-only minimal view of the
system, an empty HOME, a fixed host name, and only the directories the step needs writable.

Spec files execute shell while they are parsed (`%(...)`), so every rpm step that reads a spec from a
repository runs here. We run as root, and bubblewrap started by root keeps every capability unless told
otherwise: the command therefore runs in a user namespace of its own as the unprivileged `mockbuild` user
(mock's name for it), with every capability dropped and no way to make a further user namespace, so it
can neither mount nor make device nodes. Secrets of the host (/root, /home, gpg homes, the project's
`.state/`, /etc/shadow) are not in the view; /etc/passwd and /etc/group are the sandbox's own.

bubblewrap itself starts from an empty environment (its PID 1 keeps the environment it was given, and
/proc/1/environ is readable inside), in a cgroup of its own with the step's process and memory limits,
under rlimits for file size and core dumps, and with a wall-time limit. The host keeps a bounded head and
tail of its output. What it writes is hostile: sandbox_output reads it back.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from .capture import KeptOutput, drain
from .cgroups import SandboxCgroup
from .errors import SandboxError, SandboxLimitError
from .limits import DEFAULT_LIMITS, SandboxLimits

BUILD_HOSTNAME = "altai-build"

# Files of /etc that programs in the sandbox need; the rest of /etc stays out of view.
_ETC_FILES = (
    "/etc/rpm",
    "/etc/nsswitch.conf",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/alternatives",
    "/etc/debian_version",
    "/etc/os-release",
)

# The unprivileged identity inside: mock's build user and group (sandbox_etc/passwd and group name them),
# so that the files of an SRPM show the owner they show when mock or Koji built it.
BUILD_UID, BUILD_GID = 1000, 135
_SANDBOX_ETC = Path(__file__).with_name("sandbox_etc")

BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "HOME": "/nonexistent-home",
}


def bwrap_path() -> str:
    found = shutil.which("bwrap")
    if not found:
        raise SandboxError("bubblewrap (bwrap) is not installed; run scripts/setup.sh")
    return found


@dataclass
class Sandbox:
    """One bubblewrap invocation's view of the system."""

    readonly: list[Path] = field(default_factory=list)
    writable: list[Path] = field(default_factory=list)
    # writable host directories shown at another path inside, so that no host path leaks into a build
    mounted: dict[Path, Path] = field(default_factory=dict)
    # the step's inputs, host directories shown read-only at a path inside (possibly inside a `mounted` one):
    # the host may write into them while the step runs, and nothing the step does can plant a link there
    inputs: dict[Path, Path] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    limits: SandboxLimits = DEFAULT_LIMITS

    def argv(self, command: Sequence[str], cwd: Path | None = None) -> list[str]:
        args = [
            bwrap_path(),
            "--unshare-user",
            "--disable-userns",
            "--uid",
            str(BUILD_UID),
            "--gid",
            str(BUILD_GID),
            "--cap-drop",
            "ALL",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            BUILD_HOSTNAME,
            "--die-with-parent",
            "--new-session",
            "--ro-bind",
            "/usr",
            "/usr",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/var/tmp",
            "--tmpfs",
            "/run",
            "--dir",
            BASE_ENV["HOME"],
            "--clearenv",
        ]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        for etc in _ETC_FILES:
            args += ["--ro-bind-try", etc, etc]
        for name in ("passwd", "group"):
            args += ["--ro-bind", str(_SANDBOX_ETC / name), f"/etc/{name}"]
        for path in self.readonly:
            args += ["--ro-bind", str(path), str(path)]
        for wpath in self.writable:
            args += ["--bind", str(wpath), str(wpath)]
        for host, inside in self.mounted.items():
            args += ["--bind", str(host), str(inside)]
        for host, inside in self.inputs.items():
            args += ["--ro-bind", str(host), str(inside)]
        for key, value in {**BASE_ENV, **self.env}.items():
            args += ["--setenv", key, value]
        if cwd is not None:
            args += ["--chdir", str(cwd)]
        args.append("--")
        args.extend(command)
        return args

    def start(self, command: Sequence[str], what: str, cwd: Path | None = None, stdin: bool = False) -> Running:
        """Start `command`; `what` names the step in errors. With `stdin`, the caller writes to it."""
        return Running(self, self.argv(command, cwd), what, stdin)

    def run(self, command: Sequence[str], what: str, seconds: float, cwd: Path | None = None) -> Completed:
        """Run `command` to its end within `seconds`; the caller interprets the exit status."""
        with self.start(command, what, cwd) as running:
            running.drain_stdout()
            return running.wait(seconds)


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


class Running:
    """One sandboxed process: its cgroup, its limits, and bounded keepers of its output."""

    def __init__(self, box: Sandbox, bwrap_argv: list[str], what: str, stdin: bool) -> None:
        self.what = what
        self.limits = box.limits
        self.argv = bwrap_argv
        self.stdout_kept = KeptOutput(box.limits.output)
        self.stderr_kept = KeptOutput(box.limits.output)
        self.cgroup = SandboxCgroup.create(box.limits)
        blocks = str(max(box.limits.file_size // 512, 1))
        # no memory cgroup: each process's address space instead
        address_space = "none" if self.cgroup is not None else str(box.limits.memory // 1024)
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
            )
        except OSError as exc:
            self._remove_cgroup()
            raise SandboxError(f"{what}: cannot start the sandbox: {exc.strerror or exc}", bwrap_argv) from exc
        assert self.proc.stderr is not None
        self._threads = [drain(self.proc.stderr, self.stderr_kept)]

    def __enter__(self) -> Running:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for thread in self._threads:
            thread.join(5)
        self._remove_cgroup()

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
        if self.proc.poll() is None:
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
