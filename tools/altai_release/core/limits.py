"""What one sandboxed step may use (processes, memory, file size, wall time, how much of its output the host
keeps) and what one download may take (size, time). The layout's `[sandbox]` and `[downloads]` tables set
them; the defaults fit a package of this release on the machines that build it, and stop a spec's fork
bomb, endless output or runaway build, or an endless download, long before the host notices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from altai_release.core.tomlreader import TomlReader

MIB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    processes: int = 512  # tasks at once (a pids cgroup): a fork bomb stops here
    memory: int = 4096 * MIB  # bytes (a memory cgroup; else the address space of each process)
    file_size: int = 4096 * MIB  # bytes, any one file a sandboxed process writes (RLIMIT_FSIZE)
    disk: int = 4096 * MIB  # bytes, all the files of a step's writable directory (its scratch tmpfs)
    spec_seconds: float = 120.0  # reading a spec (its %(...) runs then), rpmautospec's walk
    build_seconds: float = 3600.0  # one rpmbuild (-bs or --rebuild)
    output: int = 2 * MIB  # bytes of a step's stdout and of its stderr the host keeps: head and tail

    def describe_memory(self) -> str:
        return f"{self.memory // MIB} MiB"


DEFAULT_LIMITS = SandboxLimits()


@dataclass(frozen=True)
class DownloadLimits:
    """One download (a lookaside file, a source RPM, upstream metadata or a package)."""

    max_bytes: int = 4096 * MIB  # one file
    seconds: float = 900.0  # one file, from the request to its last byte
    idle_seconds: float = 60.0  # without a byte


DEFAULT_DOWNLOAD_LIMITS = DownloadLimits()

# layout key: (field, unit, low, high)
_SANDBOX_KEYS = {
    "processes": ("processes", 1, 16, 1_000_000),
    "memory_mib": ("memory", MIB, 64, 1 << 30),
    "file_size_mib": ("file_size", MIB, 1, 1 << 30),
    "disk_mib": ("disk", MIB, 16, 1 << 30),
    "spec_seconds": ("spec_seconds", 1, 1, 86_400),
    "build_seconds": ("build_seconds", 1, 1, 7 * 86_400),
    "output_kib": ("output", 1024, 4, 1 << 30),
}
_DOWNLOAD_KEYS = {
    "max_mib": ("max_bytes", MIB, 1, 1 << 30),
    "seconds": ("seconds", 1, 1, 7 * 86_400),
    "idle_seconds": ("idle_seconds", 1, 1, 86_400),
}


def read_limits(r: TomlReader, data: dict[str, Any]) -> SandboxLimits:
    """The layout's `[sandbox]` table (every key optional)."""
    return SandboxLimits(**_read_table(r, data, "sandbox", _SANDBOX_KEYS, DEFAULT_LIMITS))


def read_download_limits(r: TomlReader, data: dict[str, Any]) -> DownloadLimits:
    """The layout's `[downloads]` table (every key optional)."""
    return DownloadLimits(**_read_table(r, data, "downloads", _DOWNLOAD_KEYS, DEFAULT_DOWNLOAD_LIMITS))


def _read_table(
    r: TomlReader, data: dict[str, Any], table: str, keys: dict[str, tuple[str, int, int, int]], defaults: object
) -> dict[str, Any]:
    r.check_keys(r.table(data, table, required=False), table, set(keys))
    values: dict[str, Any] = {}
    for key, (name, unit, low, high) in keys.items():
        default = getattr(defaults, name)
        values[name] = r.integer(data, f"{table}.{key}", int(default // unit), low, high) * unit
    return values
