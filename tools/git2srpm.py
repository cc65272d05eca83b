#!/usr/bin/env python3
"""git2srpm: a commit of a git repository with a spec -> reproducible tarball + SRPM."""

import sys

from _bootstrap import enter_venv

enter_venv(__file__)

from altai_release.cli.git2srpm import git2srpm_main  # noqa: E402

sys.exit(git2srpm_main())
