"""`python -m altai_release COMMAND …`: the three commands, as the console scripts altai-build,
altai-git2srpm and altai-srpm2git install them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


def _commands() -> dict[str, Callable[[Sequence[str] | None], int]]:
    from altai_release.cli.build import build_main
    from altai_release.cli.git2srpm import git2srpm_main
    from altai_release.cli.srpm2git import srpm2git_main

    return {"build": build_main, "git2srpm": git2srpm_main, "srpm2git": srpm2git_main}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = _commands()
    if not args or args[0] not in commands:
        shown = args[0] if args else "nothing"
        said = f"error: python -m altai_release: {shown} is not a command; one of: {', '.join(commands)}"
        print(said, file=sys.stderr)
        return 2
    sys.argv[0] = f"altai-{args[0]}"  # named in usage, errors and --version as the console script is
    return commands[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
