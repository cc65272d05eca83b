"""Command-line entry points, one module per tool (`build`, `git2srpm`, `srpm2git`) and what they share
(`common`). Thin: parse arguments, call the package, turn errors into one line. Nothing is imported here:
each tool loads only its own module."""
