"""Shared start of the entry points: run inside the project's venv (it has the rpm bindings shim and the
other dependencies) and make the tooling package importable from this directory."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_PY = HERE.parent / ".venv" / "bin" / "python"


def enter_venv(script: str) -> None:
    if VENV_PY.exists() and Path(sys.prefix).resolve() != VENV_PY.parent.parent.resolve():
        os.execv(VENV_PY, [str(VENV_PY), script, *sys.argv[1:]])
    sys.path.insert(0, str(HERE))
