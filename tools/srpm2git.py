#!/usr/bin/env python3
"""srpm2git: a source RPM -> a new git repository in the layout's git-package shape."""

import sys

from _bootstrap import enter_venv

enter_venv(__file__)

from altai_release.cli.srpm2git import srpm2git_main  # noqa: E402

sys.exit(srpm2git_main())
