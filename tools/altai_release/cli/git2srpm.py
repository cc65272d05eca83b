"""`tools/git2srpm.py`: a reproducible tarball and SRPM from a commit of a git repository."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from altai_release.cli.common import Parser, path, run, text
from altai_release.core.errors import AltaiError, InputError


def _define(value: str) -> tuple[str, str]:
    name, _, body = value.strip().partition(" ")
    if not name or name.startswith("-"):
        raise argparse.ArgumentTypeError(f"--define wants 'NAME VALUE', got {value!r}")
    return name, body.strip()


def parser() -> Parser:
    parser = Parser(
        prog="git2srpm",
        description="Make a reproducible tarball and SRPM from a commit of a git repository.",
        example="tools/git2srpm.py --dist .el6 --outdir /tmp/srpms ../nova-fping",
    )
    parser.add_argument("repo", metavar="REPO", help="local path or git URL")
    parser.add_argument("--ref", default="HEAD", help="commit, branch or tag to build (default HEAD)")
    parser.add_argument(
        "--subdir", metavar="DIR", type=text, help="directory of the repository to pack (default: root)"
    )
    parser.add_argument("--spec", metavar="PATH", type=text, help="spec file, as a path in the repository")
    parser.add_argument("--outdir", metavar="DIR", type=path, default=Path("."), help="default: .")
    parser.add_argument("--dist", metavar="TAG", type=text, help="value of %%{dist}, e.g. .el6")
    parser.add_argument("--snapshot", action="store_true", help="add .git.N.HASH to Release")
    parser.add_argument("--define", metavar="'NAME VALUE'", type=_define, action="append", default=[])
    parser.add_argument("--macros", metavar="FILE", type=path, action="append", default=[])
    parser.add_argument("--no-tarball", action="store_true", help="keep only the SRPM in OUTDIR")
    parser.add_argument(
        "--lookaside", metavar="URL", type=text, help="lookaside cache for the files listed in `sources`"
    )
    parser.add_argument(
        "--cache", metavar="DIR", type=path, help="download cache (default $XDG_CACHE_HOME/altai-release/downloads)"
    )
    parser.add_argument("--offline", action="store_true", help="files listed in `sources` from the cache only")
    parser.add_argument("--submodules", action="store_true", help="include the submodules' trees in the tarball")
    return parser


def git2srpm_main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def body() -> int:
        from altai_release.sources.srpm_from_git import SrpmRequest, make_srpm

        for macros in args.macros:
            if not macros.is_file():
                raise InputError(f"macro file {macros} does not exist")
        request = SrpmRequest(
            repo=args.repo,
            ref=args.ref,
            subdir=args.subdir,
            spec=args.spec,
            outdir=args.outdir,
            dist=args.dist,
            snapshot=args.snapshot,
            keep_tarball=not args.no_tarball,
            defines=args.define,
            macro_files=[m.absolute() for m in args.macros],
            lookaside=args.lookaside,
            download_cache=args.cache.absolute() if args.cache else None,
            offline=args.offline,
            submodules=args.submodules,
        )
        try:
            result = make_srpm(request)
        except (AltaiError, OSError) as exc:
            from altai_release.core.diskfull import as_disk_failure

            instead = as_disk_failure(exc, args.outdir.absolute(), f"nothing was written to {args.outdir}")
            if instead is None:
                raise
            raise instead from exc
        if result.tarball:
            print(result.tarball)
        print(result.srpm)
        return 0

    return run(args, body)
