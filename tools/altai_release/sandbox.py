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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SandboxError
from .limits import DEFAULT_LIMITS, SandboxLimits
from .sandbox_process import BASE_ENV, Completed, Running

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
        return Running(self.limits, self.argv(command, cwd), what, stdin)

    def run(self, command: Sequence[str], what: str, seconds: float, cwd: Path | None = None) -> Completed:
        """Run `command` to its end within `seconds`; the caller interprets the exit status."""
        with self.start(command, what, cwd) as running:
            running.drain_stdout()
            return running.wait(seconds)
