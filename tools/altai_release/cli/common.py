"""What every command shares: one `error:` line per failure, argument types, --version, --print-completion,
-q/-v/--timings driving `logging`, and SIGTERM unwinding like Ctrl-C."""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from altai_release.core import timing
from altai_release.core.errors import AltaiError

LOGGER = "altai_release"


def version() -> str:
    from importlib import metadata  # 15 ms: only for --version

    try:
        return metadata.version("altai-release")
    except metadata.PackageNotFoundError:  # run from a checkout without the venv's install
        return "0+checkout"


class _Version(argparse.Action):
    """--version, whose number is looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> NoReturn:
        # the command as typed (tools/build.py, altai-build), and the project it belongs to, as `git --version`
        command = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] not in ("", "-c") else parser.prog
        print(f"{command} (altai-release) {version()}")
        raise SystemExit(0)


class _Completion(argparse.Action):
    """--print-completion SHELL: the completion script shtab makes from the parser, for the command as
    installed (`altai-build`); the RPM installs the same scripts (cli/manpages.py)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings,
            dest,
            choices=SHELLS,
            metavar="SHELL",
            help="print the shell completion script for SHELL (bash, zsh) and exit",
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> NoReturn:
        print(completion(parser, str(args[1])), end="")
        raise SystemExit(0)


SHELLS = ("bash", "zsh")


def installed_name(parser: argparse.ArgumentParser) -> str:
    return parser.prog if parser.prog.startswith("altai-") else f"altai-{parser.prog}"


def completion(parser: argparse.ArgumentParser, shell: str) -> str:
    import shtab  # only when a completion script is asked for

    named = copy.copy(parser)
    named.prog = installed_name(parser)
    for action in named._actions:  # a file's or directory's name completes as one
        if action.type in (path, tree_or_url):
            action.complete = shtab.DIRECTORY if action.metavar in ("DIR", "DIR|URL") else shtab.FILE  # type: ignore[attr-defined]
    return str(shtab.complete(named, shell=shell))


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one `error:` line like every other failure (exit 2), and every
    command has --version, -q, -v and --timings."""

    def __init__(self, *, prog: str, description: str, example: str) -> None:
        installed = f"altai-{prog}"
        if sys.argv and os.path.basename(sys.argv[0]) == installed:  # the console script: named as typed
            prog, example = installed, example.replace(f"tools/{prog}.py", installed)
        super().__init__(
            prog=prog,
            description=description,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.add_argument("--version", action=_Version)
        self.add_argument("--print-completion", action=_Completion)
        talk = self.add_mutually_exclusive_group()
        talk.add_argument("-q", "--quiet", action="store_true", help="print warnings and errors only")
        talk.add_argument(
            "-v", "--verbose", action="store_true", help="print debug messages and the time of every step"
        )
        self.add_argument("--timings", action="store_true", help="print the time of every step and their totals")

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\udc80-\udcff]")


def printable(message: str) -> str:
    """`message` safe for a terminal: a control character (an escape sequence's ESC, CR) or a byte that is
    not UTF-8 (a name of somebody's tree) shown as \\xNN."""

    def escaped(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code - 0xDC00 if code >= 0xDC80 else code:02x}"

    return _UNPRINTABLE.sub(escaped, message)


def one_line(message: str) -> str:
    return printable(" ".join(message.split()))


class _Lines(logging.Formatter):
    """Log records as the lines the tools always printed: progress as is, `warning: …`, `debug: …`."""

    def format(self, record: logging.LogRecord) -> str:
        message = printable(record.getMessage())
        if record.levelno >= logging.ERROR:
            return f"error: {message}"
        if record.levelno >= logging.WARNING:
            return f"warning: {message}"
        if record.levelno < logging.INFO:
            return f"debug: {message}"
        return message


def setup_logging(args: argparse.Namespace) -> None:
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Lines())
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO)
    if args.verbose or args.timings:
        timing.enable()


def tree_or_url(text: str) -> Path | str:
    """`--verify`'s argument: a release tree's directory, or the http(s) URL it is served at."""
    return text if text.startswith(("http://", "https://")) else path(text)


def path(text: str) -> Path:
    """A path argument: never empty (it would mean the current directory), and UTF-8 (it is written into
    manifests, .repo files and messages)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path (say . for the current directory where one is allowed)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{text.encode('utf-8', 'surrogateescape')!r} is not UTF-8") from None
    return Path(text)


def mib(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1 << 20:
        raise argparse.ArgumentTypeError(f"expected a whole number of MiB from 1 to {1 << 20}, found {text!r}")
    return value


def text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty value")
    return value


def seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds >= 0, got {value!r}")
    return number


class Terminated(Exception):
    """SIGTERM: unwinds like Ctrl-C, so that every `finally` removes what the run had started."""


def _stop_sandboxes() -> None:
    if "altai_release.sandbox.process" in sys.modules:  # a run that started none loads nothing for it
        from altai_release.sandbox.process import kill_running

        kill_running()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_sandboxes()  # the sandboxes run in sessions of their own: no signal of ours reaches them
    raise Terminated()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _stop_sandboxes()
    raise KeyboardInterrupt


def run(args: argparse.Namespace, body: Callable[[], int]) -> int:
    """Run a command's body: its failures as one `error:` line and the exit code of their class."""
    setup_logging(args)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    previous_int = signal.signal(signal.SIGINT, _on_sigint)
    try:
        status = body()
        timing.summary()
        return status
    except Terminated:
        return _failed(args, "terminated", 143)
    except AltaiError as exc:
        return _failed(args, str(exc), exc.exit_code, exc.reported)
    except OSError as exc:
        culprit = f"{exc.filename}: " if exc.filename else ""
        return _failed(args, f"{culprit}{exc.strerror or exc}", 1)
    except KeyboardInterrupt:
        return _failed(args, "interrupted", 130)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _failed(args: argparse.Namespace, message: str, code: int, reported: bool = False) -> int:
    """The one `error:` line; with --json, also a JSON object on stdout (a CI job keeps stdout as its
    artifact: an empty file says nothing), unless the mode printed its own report."""
    line = one_line(message)
    if getattr(args, "json", False) and not reported:
        print(json.dumps({"ok": False, "error": line, "exit_code": code}, indent=2))
    print(f"error: {line}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    logging.getLogger(LOGGER).warning(message)
