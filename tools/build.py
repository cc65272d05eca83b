#!/usr/bin/env python3
"""build: package names -> SRPMs -> signed binary RPMs in the release tree."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_PY = HERE.parent / ".venv" / "bin" / "python"
if VENV_PY.exists() and Path(sys.prefix).resolve() != VENV_PY.parent.parent.resolve():
    os.execv(VENV_PY, [str(VENV_PY), __file__, *sys.argv[1:]])  # the project's venv has the rpm bindings
sys.path.insert(0, str(HERE))

from altai_release.cli import build_main  # noqa: E402

sys.exit(build_main())
