"""A user namespace whose ids 0-65535 are the host's unprivileged sandbox range (`sandbox.HOST_ID_BASE`):
root inside it may chown to any id, chroot and run what a package installs, and is nobody of the host.
bubblewrap maps a single id only; the kernel lets root write a range into a namespace's map, so a holder
process (already the range's first uid) makes the namespace, root writes its maps, and the sandbox joins it
through the descriptor (`bwrap --userns FD`). The namespace lives as long as that descriptor."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from altai_release.core.errors import SandboxError
from altai_release.sandbox.bubblewrap import HOST_ID_BASE, ID_COUNT, drop_to, host_id, privileged
from altai_release.sandbox.process import BASE_ENV

_READY_SECONDS = 10.0


@contextmanager
def mapped_userns() -> Iterator[int | None]:
    """A descriptor of such a namespace (owned by the range's first uid, so that the sandbox, as that uid,
    may join it); None when not run as root (the sandbox then is root of a namespace of the caller alone)."""
    if not privileged():
        yield None
        return
    unshare = shutil.which("unshare")
    if unshare is None:
        raise SandboxError("unshare (util-linux) is not installed")
    holder = subprocess.Popen(  # noqa: S603 - a fixed argv
        [*drop_to(host_id(0)), unshare, "--user", "--", "/bin/sh", "-c", "read line"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(BASE_ENV),
        cwd="/",
    )
    try:
        _wait_for_namespace(holder)
        for kind in ("uid_map", "gid_map"):
            Path(f"/proc/{holder.pid}/{kind}").write_text(f"0 {HOST_ID_BASE} {ID_COUNT}\n")
        opened = os.open(f"/proc/{holder.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        fd = fcntl.fcntl(opened, fcntl.F_DUPFD_CLOEXEC, 10)  # above the sandbox's shell's own fd 9
        os.close(opened)
    except OSError as exc:
        raise SandboxError(f"cannot make the installation's user namespace: {exc.strerror or exc}") from exc
    finally:
        holder.kill()
        holder.communicate()
    try:
        yield fd
    finally:
        os.close(fd)


def _wait_for_namespace(holder: subprocess.Popen[bytes]) -> None:
    ours = os.readlink("/proc/self/ns/user")
    deadline = time.monotonic() + _READY_SECONDS
    while True:
        try:
            if os.readlink(f"/proc/{holder.pid}/ns/user") != ours:
                return
        except OSError:
            pass
        if holder.poll() is not None:
            said = holder.stderr.read().decode(errors="replace").strip() if holder.stderr else ""
            raise SandboxError(f"cannot make the installation's user namespace: {said or 'unshare failed'}")
        if time.monotonic() > deadline:
            raise SandboxError(f"cannot make the installation's user namespace: no answer in {_READY_SECONDS:.0f}s")
        time.sleep(0.001)
