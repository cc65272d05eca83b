"""Run *inside the sandbox* on the system interpreter: rpmautospec processes the spec of a clean checkout
(`%autorelease`, `%autochangelog` from its git history) into a plain spec. rpmautospec parses the spec
of every commit it walks with rpm, which executes the spec's shell: hence the sandbox. Imports nothing
from the tooling package.

    python3 autospec_helper.py CHECKOUT/NAME.spec TARGET.spec
"""

from __future__ import annotations

import shutil
import sys


def main(argv: list[str]) -> int:
    from rpmautospec.subcommands.process_distgit import do_process_distgit

    source, target = argv
    try:
        # False: nothing to process; it returns None once it has written the target
        if do_process_distgit(source, target, enable_caching=False) is False:
            shutil.copyfile(source, target)
    except Exception as exc:  # rpmautospec's own errors, reported as one line by the caller
        sys.stderr.write(f"error: rpmautospec: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
