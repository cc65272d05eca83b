"""Run a command from an untrusted spec inside bubblewrap: no network, a read-only minimal view of the
system, an empty HOME, a fixed host name, and only the directories the step needs writable.

Spec files execute shell while they are parsed (`%(...)`), so every rpm step that reads a spec from a
repository runs here. We run as root, and bubblewrap started by root keeps every capability unless told
otherwise: the command therefore runs in a user namespace of its own as the unprivileged `mockbuild` user
(mock's name for it), with every capability dropped and no way to make a further user namespace, so it
can neither mount nor make device nodes. Secrets of the host (/root, /home, gpg homes, the project's
`.state/`, /etc/shadow) are not in the view; /etc/passwd and /etc/group are the sandbox's own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import runner
from .errors import SandboxError

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
    env: dict[str, str] = field(default_factory=dict)

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
        for key, value in {**BASE_ENV, **self.env}.items():
            args += ["--setenv", key, value]
        if cwd is not None:
            args += ["--chdir", str(cwd)]
        args.append("--")
        args.extend(command)
        return args

    def run(self, command: Sequence[str], cwd: Path | None = None, timeout: float = 600.0) -> Completed:
        """Run `command` in the sandbox; the caller interprets the exit status."""
        proc = runner.run(self.argv(command, cwd), SandboxError, "sandboxed command", timeout=timeout, check=False)
        return Completed(proc.returncode, runner.text(proc.stdout), runner.text(proc.stderr))


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str
