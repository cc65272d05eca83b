"""Run a command from an untrusted package inside bubblewrap: no network, a read-only minimal view of the
system, an empty HOME, a fixed host name, and only the directories the step needs writable.

Spec files execute shell while they are parsed (`%(...)`), and packages run scriptlets when installed, so
every such step runs here, and **it owns nothing of the host**: its user is an unprivileged host uid of a
range no host account uses (`HOST_ID_BASE`), never root. Run as root, the tool starts two bubblewraps: the
outer one, as root, only lays out the view (root may read any directory on the way to what it binds); the
inner one runs as that unprivileged uid, in a user namespace of its own, and starts the command. Inside, a
build is mock's unprivileged `mockbuild` user (1000, group `mock`) with every capability dropped and no way
to make a further user namespace, so it can neither mount nor make device nodes; an installation
(acceptance) is root of a user namespace whose 65,536 ids are that unprivileged range (`userns`): rpm may
chown, chroot and run scriptlets, all of it as nobody of the host. Secrets of the host (/root, /home, gpg
homes, the project's `.state/`, /etc/shadow) are not in the view; /etc/passwd and /etc/group are its own.

bubblewrap itself starts from an empty environment (its PID 1 keeps the environment it was given, and
/proc/1/environ is readable inside), in a cgroup of its own with the step's process and memory limits,
under rlimits for file size and core dumps, and with a wall-time limit. The host keeps a bounded head and
tail of its output. What it writes is hostile: sandbox_output reads it back.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from altai_release.core.errors import SandboxError
from altai_release.core.limits import DEFAULT_LIMITS, SandboxLimits
from altai_release.sandbox.process import BASE_ENV, Completed, Running

if TYPE_CHECKING:
    from altai_release.sandbox.userns import MappedUserns

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
# Inside id N is host id HOST_ID_BASE + N: systemd's map of uid ranges leaves 0x70000000-0x7FFFFFFF unused,
# so no host account, file or process owns these ids (a file a sandbox leaves is nobody's).
HOST_ID_BASE = 0x7000_0000
ID_COUNT = 65536
_SANDBOX_ETC = Path(__file__).with_name("sandbox_etc")
_SCRATCH_DIRS = ("/tmp", "/var/tmp", "/run")  # 01777 tmpfs, as a host has them
# The outer sandbox's process stays root while the inner one runs: a dying process signals its children's
# death signal with its own credentials, and the outer launcher, root without capabilities, may not kill
# the inner one (another uid); this shell, root with them, may. Its stdin goes to the inner one (through
# fd 9: an asynchronous command's stdin is /dev/null before any redirection; a passed fd is 10 or above).
_STAY_ROOT = 'exec 9<&0; "$@" <&9 9<&- & wait $!'
# the /proc of the outer sandbox's own PID namespace, fully visible (no mount lies over a part of it), which
# the kernel wants before the inner one may mount its own
_FRESH_PROC = "mount -t proc -o nosuid,nodev,noexec proc /proc || exit 125"


def host_id(inside: int) -> int:
    """The host uid (or gid) of id `inside` of a sandbox."""
    return HOST_ID_BASE + inside


def privileged() -> bool:
    """Run as root: the sandbox's user must then be made an unprivileged host uid (an unprivileged run's
    sandbox already is its own user)."""
    return os.geteuid() == 0


def _parents(inside: str) -> list[str]:
    return [str(p) for p in Path(inside).parents if str(p) != "/"]


def bwrap_path() -> str:
    found = shutil.which("bwrap")
    if not found:
        raise SandboxError("bubblewrap (bwrap) is not installed; run scripts/setup.sh")
    return found


def drop_to(host: int) -> list[str]:
    """`setpriv` becoming host uid and gid `host`, without groups or capabilities to inherit."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise SandboxError("setpriv (util-linux) is not installed")
    return [setpriv, f"--reuid={host}", f"--regid={host}", "--clear-groups", "--inh-caps=-all", "--no-new-privs"]


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
    network: bool = False  # the host's network (a download of dnf's, never a package's code)
    # the user namespaces (`userns.mapped_userns`) whose inner one's root the command is: an installation
    userns: MappedUserns | None = None
    etc: tuple[str, ...] = ()  # more of the host's /etc, read-only (dnf's configuration, CA certificates)
    # the command is root of the outer user namespace itself, which owns the view's mounts: a tool that
    # mounts into a chroot of its own (mock). The view's /proc then lies over a fresh one of the sandbox's
    # own PID namespace, never the host's: what such a root may unmount reveals nothing of the host
    may_mount: bool = False

    def _binds(self) -> list[str]:
        """The binds of host paths: what the outer bubblewrap (or the only one) lays out, after the scratch
        directories (a bind may lie below one: a test's /tmp/...)."""
        args = ["--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        for etc in (*_ETC_FILES, *self.etc):
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
        return args

    def _identity(self) -> list[str]:
        if self.userns is not None:  # root of a namespace of the unprivileged range: rpm chowns, chroots
            namespaces = ["--userns", str(self.userns.setup)]
            if not self.may_mount:
                namespaces += ["--userns2", str(self.userns.run)]
            return [*namespaces, "--uid", "0", "--gid", "0", "--cap-add", "ALL"]
        uid, gid = str(BUILD_UID), str(BUILD_GID)
        return ["--unshare-user", "--disable-userns", "--uid", uid, "--gid", gid, "--cap-drop", "ALL"]

    def _inner(self, command: Sequence[str], cwd: Path | None) -> list[str]:
        """The inner bubblewrap's own namespaces and mounts, its environment and the command."""
        args = [*self._identity(), "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not self.network:
            args.append("--unshare-net")
        args += ["--hostname", BUILD_HOSTNAME, "--die-with-parent", "--new-session"]
        args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", BASE_ENV["HOME"], "--clearenv"]
        if self.may_mount:  # mock's Python takes its locks (multiprocessing) in /dev/shm
            args += ["--perms", "01777", "--tmpfs", "/dev/shm"]
        for key, value in {**BASE_ENV, **self.env}.items():
            args += ["--setenv", key, value]
        if cwd is not None:
            args += ["--chdir", str(cwd)]
        return [*args, "--", *command]

    def argv(self, command: Sequence[str], cwd: Path | None = None) -> list[str]:
        bwrap = bwrap_path()
        scratch = [a for t in _SCRATCH_DIRS for a in ("--perms", "01777", "--tmpfs", t)]
        binds = self._binds()
        if not privileged():
            return [bwrap, *scratch, *binds, *self._inner(command, cwd)]
        # The outer one, as root, lays out the view (and the mount points the inner one needs), then becomes
        # the unprivileged uid, which starts the inner one on that view. Every directory on the way to a bind
        # is made 0755 first: bubblewrap makes a file's parents as private as the file is, and as root here,
        # so that the inner user could not pass them. It shows the host's /proc: as bubblewrap's own, whose
        # subdirectories it covers, it would not be "fully visible", and the kernel lets the inner one mount a
        # /proc of its own only over a fully visible one.
        points = {d for i, a in enumerate(binds) if "bind" in a for d in _parents(binds[i + 2])}
        points = (points | {BASE_ENV["HOME"]}) - set(_SCRATCH_DIRS)
        proc = ["--bind", "/proc", "/proc"]
        start = _STAY_ROOT
        if self.may_mount:
            proc = ["--unshare-pid", "--cap-add", "CAP_SYS_ADMIN", "--dir", "/proc", "--dir", "/sys"]
            start = f"{_FRESH_PROC}; {_STAY_ROOT}"
        outer = [bwrap, "--die-with-parent", "--dev", "/dev", *proc, *scratch]
        outer += [a for point in sorted(points) for a in ("--dir", point)] + binds
        user = host_id(0) if self.userns is not None else host_id(BUILD_UID)
        inner = [*drop_to(user), bwrap, "--bind", "/", "/", *self._inner(command, cwd)]
        return [*outer, "--", "/bin/sh", "-c", start, "sh", *inner]

    def start(self, command: Sequence[str], what: str, cwd: Path | None = None, stdin: bool = False) -> Running:
        """Start `command`; `what` names the step in errors. With `stdin`, the caller writes to it."""
        fds = (self.userns.setup, self.userns.run) if self.userns is not None else ()
        return Running(self.limits, self.argv(command, cwd), what, stdin, fds)

    def run(self, command: Sequence[str], what: str, seconds: float, cwd: Path | None = None) -> Completed:
        """Run `command` to its end within `seconds`; the caller interprets the exit status."""
        with self.start(command, what, cwd) as running:
            running.drain_stdout()
            return running.wait(seconds)
