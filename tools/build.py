#!/usr/bin/env python3
"""build: package names -> SRPMs -> signed binary RPMs in the release tree."""

import sys

from _bootstrap import enter_venv

enter_venv(__file__)

from altai_release.cli.build import build_main  # noqa: E402

sys.exit(build_main())
