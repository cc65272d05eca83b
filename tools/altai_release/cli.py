"""Command-line entry points. Thin: parse arguments, call the package, turn errors into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import AltaiError
from .srpm import SrpmRequest, make_srpm


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _run(body: Callable[[], int]) -> int:
    try:
        return body()
    except AltaiError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _define(value: str) -> tuple[str, str]:
    name, _, body = value.strip().partition(" ")
    if not name or name.startswith("-"):
        raise argparse.ArgumentTypeError(f"--define wants 'NAME VALUE', got {value!r}")
    return name, body.strip()


def git2srpm_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="git2srpm", description="Make a reproducible tarball and SRPM from a commit of a git repository."
    )
    parser.add_argument("repo", metavar="REPO", help="local path or git URL")
    parser.add_argument("--ref", default="HEAD", help="commit, branch or tag to build (default HEAD)")
    parser.add_argument("--subdir", metavar="DIR", help="directory of the repository to pack (default: root)")
    parser.add_argument("--spec", metavar="PATH", help="spec file, as a path in the repository")
    parser.add_argument("--outdir", metavar="DIR", type=Path, default=Path("."), help="default: .")
    parser.add_argument("--dist", metavar="TAG", help="value of %%{dist}, e.g. .el6")
    parser.add_argument("--snapshot", action="store_true", help="add .git.N.HASH to Release")
    parser.add_argument("--define", metavar="'NAME VALUE'", type=_define, action="append", default=[])
    parser.add_argument("--macros", metavar="FILE", type=Path, action="append", default=[])
    parser.add_argument("--no-tarball", action="store_true", help="keep only the SRPM in OUTDIR")
    args = parser.parse_args(argv)

    def body() -> int:
        for macros in args.macros:
            if not macros.is_file():
                raise AltaiError(f"macro file {macros} does not exist")
        request = SrpmRequest(
            repo=args.repo, ref=args.ref, subdir=args.subdir, spec=args.spec, outdir=args.outdir,
            dist=args.dist, snapshot=args.snapshot, keep_tarball=not args.no_tarball,
            defines=args.define, macro_files=[m.absolute() for m in args.macros],
        )  # fmt: skip
        result = make_srpm(request, warn=_warn)
        if result.tarball:
            print(result.tarball)
        print(result.srpm)
        return 0

    return _run(body)
