"""Running as a service the SysV way: detach from the terminal when asked (`--daemonize`: double fork, a new
session, stdio to the log file), write a pid file once the service is ready and remove it when it stops.
systemd needs none of it (Type=simple, the journal); EL6's init scripts do."""

import atexit
import contextlib
import os
import sys
from typing import List, Optional


class ServiceError(Exception):
    pass


def running_pid(pidfile: str) -> Optional[int]:
    """The pid in `pidfile` when that process is alive, else None."""
    try:
        with open(pidfile) as fd:
            pid = int(fd.read().strip() or "0")
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def write_pidfile(pidfile: str) -> None:
    """Our pid into `pidfile` (atomically), removed again when we exit."""
    directory = os.path.dirname(os.path.abspath(pidfile))
    os.makedirs(directory, exist_ok=True)
    temporary = "%s.%d.tmp" % (pidfile, os.getpid())
    with open(temporary, "w") as fd:
        fd.write("%d\n" % os.getpid())
    os.replace(temporary, pidfile)
    mine = os.getpid()

    def remove() -> None:
        if running_pid(pidfile) == mine or os.getpid() == mine:
            with contextlib.suppress(OSError):
                os.unlink(pidfile)

    atexit.register(remove)


def _program(argv: List[str]) -> str:
    """What a command line runs: the module of `python -m X`, else the first word that is not the
    interpreter or one of its options (a console script run through its shebang's interpreter)."""
    if "-m" in argv:
        at = argv.index("-m")
        return argv[at + 1] if at + 1 < len(argv) else ""
    for word in argv:
        name = os.path.basename(word)
        if not name.startswith(("python", "-")):
            return name
    return ""


def _same_program(pid: int) -> bool:
    """Whether process `pid` runs this program (the pid file of a stopped service may name a pid that is
    now another program's). Where /proc cannot tell, it is taken to be ours: never two at once."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fd:
            theirs = [a.decode("utf-8", "replace") for a in fd.read().split(b"\0") if a]
    except OSError:
        return True
    return _program(theirs) == _program(list(getattr(sys, "orig_argv", sys.argv)))


def check_not_running(pidfile: Optional[str]) -> None:
    if pidfile:
        pid = running_pid(pidfile)
        if pid is not None and pid != os.getpid() and _same_program(pid):
            raise ServiceError("already running (pid %d, %s)" % (pid, pidfile))


class Startup:
    """The start of the service as its caller waits for it: `ready()` once it serves (the pid file is written
    then), or `fail(message)`, which a detached service's original process prints as its one error line."""

    def __init__(self, pidfile: Optional[str], report_fd: Optional[int] = None) -> None:
        self.pidfile = pidfile
        self.report_fd = report_fd

    def ready(self) -> None:
        if self.pidfile:
            try:
                write_pidfile(self.pidfile)
            except OSError as exc:
                self.fail("cannot write the pid file: %s" % exc)
                raise ServiceError("cannot write the pid file: %s" % exc) from exc
        self._report(b"1")

    def fail(self, message: str) -> None:
        self._report(b"0" + message.encode("utf-8", "replace"))

    def _report(self, data: bytes) -> None:
        if self.report_fd is not None:
            try:
                os.write(self.report_fd, data)
            finally:
                os.close(self.report_fd)
                self.report_fd = None


def daemonize(pidfile: Optional[str], log_file: Optional[str]) -> Startup:
    """Detach. The original process exits 0 only once the daemon serves (its pid file written), so an init
    script's `start` returns a service that answers; else it prints the daemon's error line and exits 1."""
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    else:
        log_fd = os.open(os.devnull, os.O_WRONLY)
    ready_r, ready_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() > 0:
        os.close(ready_w)
        report = b""
        while True:
            chunk = os.read(ready_r, 4096)
            if not chunk:
                break
            report += chunk
        if report[:1] == b"1":
            os._exit(0)
        why = report[1:].decode("utf-8", "replace") or "the service exited before it served (see its log)"
        sys.stderr.write("error: %s\n" % why)
        sys.stderr.flush()
        os._exit(1)
    os.close(ready_r)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    os.umask(0o022)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null_fd)
    os.close(log_fd)
    return Startup(pidfile, ready_w)


def start_service(daemon: bool, pidfile: Optional[str], log_file: Optional[str]) -> Startup:
    """What the service's command line asked for: detach, or stay in front with an optional pid file."""
    check_not_running(pidfile)
    if daemon:
        return daemonize(pidfile, log_file)
    return Startup(pidfile)
