"""The manual pages (argparse-manpage) and the bash and zsh completions (shtab) of the three commands, made
from their parsers, as they are installed (`altai-build`…): `python -m altai_release.cli.manpages DIR`
writes DIR/man1/altai-*.1, DIR/bash-completion/altai-* and DIR/zsh/_altai-*. The tool's RPM runs it in
%install (packaging/altai-release-tools.spec); a pip install gets the completions from --print-completion."""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from altai_release.cli import build, git2srpm, srpm2git
from altai_release.cli.common import completion, installed_name, version

PARSERS: tuple[Callable[[], argparse.ArgumentParser], ...] = (build.parser, git2srpm.parser, srpm2git.parser)


def manpage(parser: argparse.ArgumentParser) -> str:
    from argparse_manpage.manpage import Manpage  # only where the pages are made

    named = copy.copy(parser)
    named.prog = installed_name(parser)
    page = Manpage(named)
    page.source = f"altai-release {version()}"  # the date: SOURCE_DATE_EPOCH's, as the RPM build sets it
    page.manual = "Altai release tools"
    page.description = (parser.description or "").split(".")[0].strip()
    return str(page)


def write(target: Path) -> list[Path]:
    written = []
    for make in PARSERS:
        parser = make()
        name = installed_name(parser)
        for path, text in (
            (target / "man1" / f"{name}.1", manpage(parser)),
            (target / "bash-completion" / name, completion(parser, "bash")),
            (target / "zsh" / f"_{name}", completion(parser, "zsh")),
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m altai_release.cli.manpages DIR", file=sys.stderr)
        return 2
    for path in write(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
