"""Shared start of the entry points of a checkout: run inside the project's venv (it has the rpm bindings
shim and the other dependencies), make the tooling package importable from this directory, and name what
the checkout's setup made (docs/install.md: the one place where the tool is told about the checkout).
An installed tool (pip, pipx, the RPM) has none of this: it finds its state under XDG, mock and rpmautospec
where they are installed."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent
VENV_PY = CHECKOUT / ".venv" / "bin" / "python"


def checkout_environment() -> dict[str, str]:
    """What the checkout's `make build` has always used: its `.state/`, and the mock and rpmautospec that
    scripts/setup.sh installed in its `.venv` (when it did)."""
    env = {"ALTAI_STATE_DIR": str(CHECKOUT / ".state")}
    if (CHECKOUT / ".venv" / "mock" / "mock.json").is_file():
        env["ALTAI_MOCK_HOME"] = str(CHECKOUT / ".venv" / "mock")
    if (CHECKOUT / ".venv" / "rpmautospec" / "rpmautospec").is_dir():
        env["ALTAI_RPMAUTOSPEC"] = str(CHECKOUT / ".venv" / "rpmautospec")
    return env


def enter_venv(script: str) -> None:
    for name, value in checkout_environment().items():
        os.environ.setdefault(name, value)
    if VENV_PY.exists() and Path(sys.prefix).resolve() != VENV_PY.parent.parent.resolve():
        os.execv(VENV_PY, [str(VENV_PY), script, *sys.argv[1:]])
    sys.path.insert(0, str(HERE))
