"""A cgroup per sandboxed step, for the limits rlimits cannot give: the number of processes (RLIMIT_NPROC
does not apply to a sandbox whose user maps to root outside) and the memory of the whole process tree.
cgroup v2 where its pids and memory controllers can be enabled below us, else the v1 `pids` and `memory`
hierarchies; where neither is writable, the sandbox falls back to rlimits alone. A limit that was hit is
read back from the cgroup's event counters after the step."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from altai_release.core.limits import SandboxLimits

_ROOT = Path("/sys/fs/cgroup")
_counter = itertools.count()


def _own_paths() -> dict[str, str]:
    """hierarchy -> our cgroup path in it, from /proc/self/cgroup ('' is the v2 hierarchy)."""
    paths = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _v2_mount() -> Path | None:
    for candidate in (_ROOT, _ROOT / "unified"):
        if (candidate / "cgroup.controllers").is_file():
            return candidate
    return None


def _v2_parent() -> Path | None:
    """A v2 cgroup below which pids and memory are enabled (enabling them if we may)."""
    mount, own = _v2_mount(), _own_paths().get("")
    if mount is None or own is None:
        return None
    parent = mount / own.lstrip("/")
    try:
        if not {"pids", "memory"} <= set((parent / "cgroup.controllers").read_text().split()):
            return None
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not {"pids", "memory"} <= enabled:
            (parent / "cgroup.subtree_control").write_text("+pids +memory")
    except OSError:
        return None  # a non-root cgroup that holds processes cannot enable controllers for children
    return parent


def _v1_parents() -> dict[str, Path] | None:
    own = _own_paths()
    parents: dict[str, Path] = {}
    for controller in ("pids", "memory"):
        mount = _ROOT / controller
        if controller not in own or not (mount / "cgroup.procs").is_file():
            return None
        parents[controller] = mount / own[controller].lstrip("/")
    return parents


@dataclass
class SandboxCgroup:
    """The cgroup(s) of one step: every directory the sandbox's first process joins, and its limits."""

    dirs: list[Path]
    limits: SandboxLimits
    version: int

    @classmethod
    def create(cls, limits: SandboxLimits) -> SandboxCgroup | None:
        name = f"altai-sandbox-{os.getpid()}-{next(_counter)}"
        parent = _v2_parent()
        made: SandboxCgroup | None = None
        try:
            if parent is not None:
                _sweep(parent)
                group = parent / name
                group.mkdir()
                made = cls([group], limits, 2)
                (group / "pids.max").write_text(str(limits.processes))
                (group / "memory.max").write_text(str(limits.memory))
                if (group / "memory.swap.max").exists():
                    (group / "memory.swap.max").write_text("0")
                return made
            parents = _v1_parents()
            if parents is None:
                return None
            made = cls([], limits, 1)
            for where in parents.values():
                _sweep(where)
                (where / name).mkdir()
                made.dirs.append(where / name)
            pids, memory = made.dirs
            (pids / "pids.max").write_text(str(limits.processes))
            (memory / "memory.limit_in_bytes").write_text(str(limits.memory))
            if (memory / "memory.memsw.limit_in_bytes").exists():  # no way around the limit through swap
                (memory / "memory.memsw.limit_in_bytes").write_text(str(limits.memory))
            return made
        except OSError:
            if made is not None:
                made.remove()
            return None

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def exceeded(self) -> str | None:
        """The limit the step hit, said for a user, or None."""
        try:
            if _counter_of(self.dirs[0] / "pids.events", "max") > 0:
                return f"its limit of {self.limits.processes} processes"
            memory = self.dirs[0] if self.version == 2 else self.dirs[1]
            events = memory / ("memory.events" if self.version == 2 else "memory.oom_control")
            if _counter_of(events, "oom_kill") > 0:
                return f"its memory limit of {self.limits.describe_memory()}"
        except OSError:
            return None
        return None

    def kill(self) -> None:
        """SIGKILL to every process in it."""
        for group in self.dirs:
            _kill_members(group)

    def remove(self) -> None:
        """Kill whatever is left in it (nothing, once bubblewrap's PID namespace has ended) and remove it."""
        for group in self.dirs:
            for _ in range(50):
                if not _kill_members(group):
                    break
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def _kill_members(group: Path) -> bool:
    """SIGKILL to every process of the cgroup; False when it cannot be read (gone)."""
    try:
        pids = (group / "cgroup.procs").read_text().split()
    except OSError:
        return False
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    return True


def _counter_of(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def _sweep(parent: Path) -> None:
    """Remove empty cgroups a killed run of ours left behind (its pid no longer exists)."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        parts = entry.name.split("-")
        if len(parts) != 4 or parts[:2] != ["altai", "sandbox"] or not parts[2].isdigit():
            continue
        if int(parts[2]) != os.getpid() and not Path(f"/proc/{parts[2]}").exists():
            with contextlib.suppress(OSError):
                entry.rmdir()
