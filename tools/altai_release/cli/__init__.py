"""Command-line entry points. Thin: parse arguments, call the package, turn errors into one line."""

from .build import build_main
from .git2srpm import git2srpm_main
from .srpm2git import srpm2git_main

__all__ = ["build_main", "git2srpm_main", "srpm2git_main"]
