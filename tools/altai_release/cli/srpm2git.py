"""`tools/srpm2git.py`: a source RPM imported into a new git repository that git2srpm rebuilds."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from altai_release.cli.common import LOGGER, Parser, mib, path, run, warn
from altai_release.core.errors import InputError


def parser() -> Parser:
    parser = Parser(
        prog="srpm2git",
        description="Import a source RPM into a new git repository: spec at the root, Source0's tree unpacked, "
        "patches and other sources next to the spec, one commit at the SRPM's build time.",
        example="tools/srpm2git.py hello-2.10-1.el6.src.rpm ../hello",
    )
    parser.add_argument("srpm", metavar="SRPM", type=path, help="the source RPM (a local file)")
    parser.add_argument("directory", metavar="DIR", type=path, help="the new repository (absent or empty)")
    parser.add_argument("--max-file-mib", type=mib, default=512, metavar="MIB", help="largest file unpacked (512)")
    parser.add_argument("--max-total-mib", type=mib, default=2048, metavar="MIB", help="all files unpacked (2048)")
    return parser


def srpm2git_main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def body() -> int:
        from altai_release.sources.srpm_import import srpm_to_git
        from altai_release.sources.srpm_unpack import UnpackLimits

        if not args.srpm.is_file():
            raise InputError(f"{args.srpm}: no such file")
        limits = UnpackLimits(args.max_file_mib << 20, args.max_total_mib << 20)
        made = srpm_to_git(args.srpm.absolute(), args.directory.absolute(), limits)
        for note in made.notes:
            warn(note)
        dist = f" --dist {made.dist}" if made.dist else ""
        log = logging.getLogger(LOGGER)
        log.info("%s: %s at commit %s", made.repository, made.nevra, made.commit[:12])
        log.info("rebuild it with: tools/git2srpm.py%s %s", dist, made.repository)
        print(made.repository)
        return 0

    return run(args, body)
