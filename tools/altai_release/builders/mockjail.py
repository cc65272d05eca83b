"""mock run as root of a user namespace whose ids are the host's unprivileged sandbox range, never as the host's
root (`sandbox.bubblewrap` with `may_mount`): it mounts, chroots, installs the build root with the host's dnf
and runs rpmbuild as `mockbuild` in its own mount and PID namespaces, where a package's scriptlet is nobody of
the host. What mock needs on a host that is not Fedora is done there too, nothing of the host changed:

- started as if by sudo from the unprivileged `mockbuild` (SUDO_UID), whose group `mock` the sandbox's own
  /etc/group holds;
- `%_dbpath /var/lib/rpm` for the host's rpm and dnf (Debian's rpm keeps it at ~/.rpmdb) over
  /usr/lib/rpm/macros.d, and a private /var/cache/dnf (dnf --installroot writes the host's otherwise);
- the view: /usr, what mock and dnf read of /etc, mock's own files, the SRPM and the repositories read-only,
  the build's root, result and cache directories writable, a /proc of the sandbox's own.
Killed, the sandbox takes every process and mount of mock with it: nothing stays mounted or running."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from altai_release.builders.mockinstall import MockInstall
from altai_release.core.limits import SandboxLimits
from altai_release.sandbox.bubblewrap import Sandbox
from altai_release.sandbox.process import Completed, Running
from altai_release.sandbox.scratch import give_to_sandbox
from altai_release.sandbox.userns import mapped_userns

# what mock, dnf, rpm and useradd read of the host's /etc (the rest stays out of view)
_ETC = (
    "/etc/dnf",
    "/etc/login.defs",
    "/etc/default",
    "/etc/pki",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/mime.types",
    "/etc/protocols",
    "/etc/services",
)
_SUDO = {"SUDO_UID": "1000", "SUDO_GID": "135", "SUDO_USER": "mockbuild", "SUDO_COMMAND": "mock"}
DBPATH_MACROS = "macros.altai-dbpath"


@dataclass(frozen=True)
class JailedRun:
    """One mock command's view: the directories it reads and writes."""

    install: MockInstall
    argv: Sequence[str]  # mock's arguments, after its program
    readonly: Sequence[Path]  # the config, the SRPM's directory, every file:// repository
    root_dirs: Sequence[Path]  # written by mock as root: the build root's basedir, the caches
    resultdir: Path | None  # written by mock as mockbuild; None: mock's default, inside the root's basedir
    dnf_cache: Path  # private /var/cache/dnf
    macros_dir: Path | None  # over /usr/lib/rpm/macros.d, when the host's rpm keeps its database elsewhere
    limits: SandboxLimits
    network: bool = False  # the host's network: a Koji hub's repositories on loopback


@dataclass
class MockJails:
    """The mock sandboxes a run has running, stopped together when the run stops."""

    _running: set[Running] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    aborted: threading.Event = field(default_factory=threading.Event)

    def abort(self) -> None:
        self.aborted.set()
        with self._lock:
            running = list(self._running)
        for step in running:
            step.kill()

    def run(self, jailed: JailedRun, what: str, seconds: float) -> Completed:
        give_to_sandbox(*jailed.root_dirs, installation=True)
        give_to_sandbox(jailed.dnf_cache, installation=True)
        results = [jailed.resultdir] if jailed.resultdir is not None else []
        give_to_sandbox(*results)
        inputs = {jailed.macros_dir: Path("/usr/lib/rpm/macros.d")} if jailed.macros_dir else {}
        shown = [*jailed.install.shown, jailed.install.configdir, *jailed.readonly]
        with mapped_userns() as namespaces:
            box = Sandbox(
                readonly=list(dict.fromkeys(p for p in shown if p.exists())),
                writable=[*jailed.root_dirs, *results],
                mounted={jailed.dnf_cache: Path("/var/cache/dnf")},
                inputs=inputs,
                env=_SUDO,
                limits=jailed.limits,
                network=jailed.network,
                userns=namespaces,
                may_mount=True,
                etc=_ETC,
            )
            with box.start([*jailed.install.command, *jailed.argv], what) as running:
                with self._lock:
                    self._running.add(running)
                try:
                    if self.aborted.is_set():
                        running.kill()
                    running.drain_stdout()
                    return running.wait(seconds)
                finally:
                    with self._lock:
                        self._running.discard(running)


def host_dbpath() -> str:
    """Where the host's rpm keeps its database (Debian's: ~/.rpmdb)."""
    done = subprocess.run(["rpm", "--eval", "%_dbpath"], capture_output=True, text=True, check=False)  # noqa: S607
    return done.stdout.strip()


def dbpath_macros(directory: Path) -> Path | None:
    """A copy of the host's /usr/lib/rpm/macros.d with `%_dbpath /var/lib/rpm` added, when the host's rpm keeps
    its database elsewhere: the host's dnf and the chroot's rpm must share one (else the chroot's rpmdb lands
    under mock's home, and `installed_pkgs.log` is empty); None on a host where it is already so."""
    if host_dbpath() == "/var/lib/rpm":
        return None
    directory.mkdir(parents=True, exist_ok=True)
    host = Path("/usr/lib/rpm/macros.d")
    for macros in sorted(host.glob("macros.*")) if host.is_dir() else []:
        (directory / macros.name).write_bytes(macros.read_bytes())
    (directory / DBPATH_MACROS).write_text("%_dbpath /var/lib/rpm\n", encoding="utf-8")
    return directory
