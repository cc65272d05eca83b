"""Where mock is: the one scripts/setup-mock.sh installed from its upstream release tarballs in the directory
`ALTAI_MOCK_HOME` names (a checkout's tools/*.py name its `.venv/mock`), else the host's (Fedora, EL:
/usr/libexec/mock/mock, /etc/mock). It is never run as installed for people (`/usr/bin/mock`, consolehelper):
`mockjail` runs its program as root of a user namespace of unprivileged ids, as sudo would start it."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from altai_release.core.errors import InputError

HOST_MOCK = Path("/usr/libexec/mock/mock")
HOST_CONFIGDIR = Path("/etc/mock")
MISSING = (
    "mock is not installed on this machine: dnf install mock, or run scripts/setup-mock.sh of the project's "
    "checkout and set ALTAI_MOCK_HOME to the directory it installed it in"
)


@dataclass(frozen=True)
class MockInstall:
    command: tuple[str, ...]  # the interpreter and mock's program
    configdir: Path  # its own configuration (logging.ini, site-defaults.cfg, chroot configs, templates)
    shown: tuple[Path, ...]  # what the jail shows of it, read-only, beyond /usr
    version: str
    origin: str  # as a run's first lines name it

    def describe(self) -> str:
        return f"mock {self.version} ({self.origin})"


def mock_home() -> Path | None:
    home = os.environ.get("ALTAI_MOCK_HOME")
    return Path(home) if home else None


def find_mock() -> MockInstall | None:
    """The mock this machine has, or None (then the local builder is what can build)."""
    home = mock_home()
    if home is not None:
        record = home / "mock.json"
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            python, program, configdir = Path(data["python"]), Path(data["mock"]), Path(data["configdir"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"ALTAI_MOCK_HOME={home}: {record.name} is not a record of scripts/setup-mock.sh ({exc}); run it again"
            ) from exc
        return MockInstall(
            (str(python), str(program)),
            configdir,
            (home,),
            str(data.get("version", "?")),
            f"installed from {data.get('from', 'the upstream tarballs')} in {home}",
        )
    if HOST_MOCK.is_file() and HOST_CONFIGDIR.is_dir():
        interpreter = shutil.which("python3", path="/usr/bin") or "/usr/bin/python3"
        return MockInstall(
            (interpreter, str(HOST_MOCK)), HOST_CONFIGDIR, (HOST_CONFIGDIR,), _host_version(), "the host's"
        )
    return None


def _host_version() -> str:
    try:
        for line in HOST_MOCK.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("_MOCK_NVR = "):
                return line.split("=", 1)[1].strip().strip("\"'")
    except OSError:
        pass
    return "?"
