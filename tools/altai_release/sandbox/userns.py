"""User namespaces whose ids 0-65535 are the host's unprivileged sandbox range (`sandbox.HOST_ID_BASE`): root
inside may chown to any id, chroot and run what a package installs, and is nobody of the host. bubblewrap
maps a single id only; the kernel lets root write a range into a namespace's map, so a holder process
(already the range's first uid) makes the namespace, root writes its maps, and the sandbox joins it through
the descriptor (`bwrap --userns FD`). The namespace lives as long as that descriptor.

Two of them, nested: bubblewrap sets the sandbox up as root of the outer one (`setup`), so the mount
namespace it makes, with the sandbox's own /proc on top of the host's, belongs to that one; the command runs
as root of the inner one (`run`, `bwrap --userns2 FD`), whose ids are the outer one's, one to one. Root of the
inner namespace has no power over a mount namespace of the outer one: it cannot unmount the sandbox's /proc
to reach the host's beneath it, nor any other mount of the view (and a mount namespace it makes itself
inherits them locked)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from altai_release.core.errors import SandboxError
from altai_release.sandbox.bubblewrap import HOST_ID_BASE, ID_COUNT, drop_to, host_id, privileged
from altai_release.sandbox.process import BASE_ENV

_READY_SECONDS = 10.0


@dataclass(frozen=True)
class MappedUserns:
    """Descriptors of the two namespaces (above the sandbox's shell's own fd 9)."""

    setup: int  # where bubblewrap lays out the view: its mount namespace belongs to this one
    run: int  # where the command runs: a child of `setup` with the same ids, and no power over its mounts


@contextmanager
def mapped_userns() -> Iterator[MappedUserns | None]:
    """The two namespaces (owned by the range's first uid, so that the sandbox, as that uid, may join them);
    None when not run as root (the sandbox then is root of a namespace of the caller alone)."""
    if not privileged():
        yield None
        return
    tools = {name: shutil.which(name) for name in ("unshare", "nsenter")}
    missing = [name for name, found in tools.items() if found is None]
    if missing:
        raise SandboxError(f"{', '.join(missing)} (util-linux) is not installed")
    unshare, nsenter = str(tools["unshare"]), str(tools["nsenter"])
    with ExitStack() as holders:
        outer = holders.enter_context(_holder([*drop_to(host_id(0)), unshare, "--user", "--"], os.getpid()))
        _write_maps(outer.pid, f"0 {HOST_ID_BASE} {ID_COUNT}\n", None)
        # root of the outer namespace (the range's first uid) makes the inner one, and writes its maps
        enter = [nsenter, f"--user=/proc/{outer.pid}/ns/user", "--setuid=0", "--setgid=0", "--"]
        inner = holders.enter_context(_holder([*enter, unshare, "--user", "--"], outer.pid))
        _write_maps(inner.pid, f"0 0 {ID_COUNT}\n", enter)
        fds = MappedUserns(_namespace_fd(outer.pid), _namespace_fd(inner.pid))
    try:
        yield fds
    finally:
        os.close(fds.setup)
        os.close(fds.run)


@contextmanager
def _holder(prefix: list[str], parent_pid: int) -> Iterator[subprocess.Popen[bytes]]:
    """A process that waits in a new user namespace (a child of `parent_pid`'s) until the block ends."""
    holder = subprocess.Popen(  # noqa: S603 - a fixed argv
        [*prefix, "/bin/sh", "-c", "read line"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(BASE_ENV),
        cwd="/",
    )
    try:
        _wait_for_namespace(holder, os.readlink(f"/proc/{parent_pid}/ns/user"))
        yield holder
    finally:
        holder.kill()
        holder.communicate()


def _write_maps(pid: int, line: str, writer: list[str] | None) -> None:
    """The uid and gid maps of `pid`'s namespace: written by root here (the outer one), or by root of the
    parent namespace through `writer` (nsenter), as the kernel wants for a range."""
    try:
        for kind in ("uid_map", "gid_map"):
            if writer is None:
                Path(f"/proc/{pid}/{kind}").write_text(line)
            else:
                script = 'printf "%s" "$1" > "$2"'
                argv = [*writer, "/bin/sh", "-c", script, "sh", line, f"/proc/{pid}/{kind}"]
                done = subprocess.run(argv, capture_output=True, env=dict(BASE_ENV), cwd="/", timeout=_READY_SECONDS)  # noqa: S603
                if done.returncode != 0:
                    said = done.stderr.decode(errors="replace").strip()
                    raise SandboxError(f"cannot map the installation's inner user namespace: {said}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"cannot make the installation's user namespace: {exc}") from exc


def _namespace_fd(pid: int) -> int:
    try:
        opened = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SandboxError(f"cannot make the installation's user namespace: {exc.strerror or exc}") from exc
    fd = fcntl.fcntl(opened, fcntl.F_DUPFD_CLOEXEC, 10)  # above the sandbox's shell's own fd 9
    os.close(opened)
    return fd


def _wait_for_namespace(holder: subprocess.Popen[bytes], parent: str) -> None:
    deadline = time.monotonic() + _READY_SECONDS
    while True:
        try:
            if os.readlink(f"/proc/{holder.pid}/ns/user") not in (parent, os.readlink("/proc/self/ns/user")):
                return
        except OSError:
            pass
        if holder.poll() is not None:
            said = holder.stderr.read().decode(errors="replace").strip() if holder.stderr else ""
            raise SandboxError(f"cannot make the installation's user namespace: {said or 'unshare failed'}")
        if time.monotonic() > deadline:
            raise SandboxError(f"cannot make the installation's user namespace: no answer in {_READY_SECONDS:.0f}s")
        time.sleep(0.001)
