"""Running as a service the SysV way: detach from the terminal when asked (`--daemonize`: double fork, a new
session, stdio to the log file), write a pid file once the service is ready and remove it when it stops.
systemd needs none of it (Type=simple, the journal); EL6's init scripts do."""

import atexit
import os
import sys
from typing import Callable, List, Optional


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
            try:
                os.unlink(pidfile)
            except OSError:
                pass

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


def daemonize(pidfile: Optional[str], log_file: Optional[str]) -> Callable[[], None]:
    """Detach. Returns `ready()`, which the daemon calls once it serves: it writes the pid file, and only
    then does the original process exit 0, so an init script's `start` returns a service that answers."""
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
        ok = os.read(ready_r, 1) == b"1"
        os._exit(0 if ok else 1)
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

    def ready() -> None:
        if pidfile:
            write_pidfile(pidfile)
        os.write(ready_w, b"1")
        os.close(ready_w)

    return ready


def start_service(daemon: bool, pidfile: Optional[str], log_file: Optional[str]) -> Callable[[], None]:
    """What the service's command line asked for: detach, or stay in front with an optional pid file.
    Returns `ready()`, to call once the service serves."""
    check_not_running(pidfile)
    if daemon:
        return daemonize(pidfile, log_file)

    def ready() -> None:
        if pidfile:
            write_pidfile(pidfile)

    return ready
