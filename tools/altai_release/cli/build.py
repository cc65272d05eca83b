"""`tools/build.py`: build packages into the release (the default mode), or one of the modes that build
nothing (--diff, --notes, --explain, --accept), chosen as mock chooses its modes: one `dest="mode"` among
mutually exclusive options."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altai_release.cli import reports
from altai_release.cli.common import LOGGER, Parser, path, run, seconds, text, tree_or_url
from altai_release.core.errors import InputError

if TYPE_CHECKING:
    from altai_release.layout import ReleaseLayout
    from altai_release.release.run.results import PackageResult
    from altai_release.signing.trust import TrustSources

log = logging.getLogger(LOGGER)


def parser() -> Parser:
    parser = Parser(
        prog="build",
        description="Build packages of the release into signed RPMs in the release tree, or compare, explain "
        "or check releases.",
        example="tools/build.py nova-fping    tools/build.py --all --base-url https://mirror.example/altai",
    )
    parser.add_argument("packages", nargs="*", metavar="PACKAGE")
    parser.add_argument("--all", action="store_true", help="build every package of the release")
    parser.add_argument(
        "--layout",
        type=path,
        help="release description (default: $ALTAI_LAYOUT, else repo-layout/altai.toml at the git root)",
    )
    parser.add_argument("--out", type=path, help="root of the release tree (default: out/ beside repo-layout/)")
    parser.add_argument("--json", action="store_true", help="print what the mode reports as JSON on stdout")
    _building(parser.add_argument_group("building (the default mode)"))
    _modes(parser.add_argument_group("modes that build nothing").add_mutually_exclusive_group())
    parser.add_argument(
        "--base-repos",
        type=path,
        metavar="FILE",
        help="with --accept or --gate: a .repo file of the base OS repositories",
    )
    parser.add_argument("--against", type=path, metavar="NEW_MANIFEST", help="with --diff or --notes (default: OUT's)")
    parser.add_argument(
        "--trust-key",
        type=path,
        action="append",
        default=[],
        metavar="FILE",
        help="with --verify: a public key file to trust for the release's own keys (a downloaded copy); "
        "default: the layout's keys from GNUPGHOME or the state directory, never the tree's own",
    )
    return parser


def _building(build: Any) -> None:
    build.add_argument("--builder", choices=("auto", "mock", "rpmbuild", "koji"), default="auto")
    build.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel builds")
    build.add_argument("--sign-key", metavar="KEYID", type=text, help="gpg user id or fingerprint for every package")
    build.add_argument("--require-key", action="store_true", help="never fall back to a development key")
    build.add_argument("--passphrase-file", type=path, help="file holding the signing key's passphrase")
    build.add_argument(
        "--state-dir",
        type=path,
        help="the development key, build-root bases and caches (default: $ALTAI_STATE_DIR, else "
        "$XDG_STATE_HOME/altai-release)",
    )
    build.add_argument("--rebuild", action="store_true", help="build even packages whose inputs did not change")
    build.add_argument("--base-url", help="base URL of the release in altai.repo (default: file:// + OUT)")
    build.add_argument(
        "--gate",
        action="store_true",
        help="accept (dnf) and verify (rebuild) the new release before it is published; else it is not",
    )
    build.add_argument(
        "--wait",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another run publishing to OUT (default: fail at once)",
    )


def _modes(modes: Any) -> None:
    modes.add_argument(
        "--diff",
        type=path,
        metavar="OLD_MANIFEST",
        help="print what the release adds, removes, upgrades, downgrades against OLD_MANIFEST",
    )
    modes.add_argument(
        "--notes",
        type=path,
        metavar="OLD_MANIFEST",
        help="print the release notes (Markdown) of the release against the one of OLD_MANIFEST",
    )
    modes.add_argument(
        "--explain",
        action="store_true",
        help="show where each named package comes from, where it goes and its signing key",
    )
    modes.add_argument(
        "--accept",
        action="store_true",
        help="check the published release with dnf: repoclosure and an install of every package",
    )
    modes.add_argument(
        "--verify",
        type=tree_or_url,
        metavar="DIR|URL",
        nargs="?",
        const=Path(""),
        help="verify a release tree (default: OUT; or the http(s) URL it is served at, fetched as its SHA256SUMS "
        "lists it) by its signatures, metadata and manifest, and by rebuilding every SRPM it publishes and "
        "comparing the binaries",
    )


def mode_of(args: argparse.Namespace) -> str:
    """The mode the options name, after the checks that an option of one mode is not given to another (it
    would do nothing, silently)."""
    modes = ("diff", "notes", "explain", "accept", "verify")
    mode = next((m for m in modes if getattr(args, m) not in (None, False)), "build")
    if mode in ("diff", "notes", "accept", "verify") and (args.packages or args.all):
        raise InputError(f"--{mode} reads published releases and builds nothing: drop the package names or --all")
    if mode == "explain" and not args.packages and not args.all:
        raise InputError("--explain needs package names (or --all)")
    if args.base_repos is not None and mode != "accept" and not (mode == "build" and args.gate):
        raise InputError("--base-repos goes with --accept or --gate (a .repo file of the base OS repositories)")
    if args.trust_key and mode != "verify":
        raise InputError("--trust-key goes with --verify (the public key a downloaded release is checked against)")
    if args.against is not None and mode not in ("diff", "notes"):
        raise InputError("--against goes with --diff OLD or --notes OLD (the newer manifest to compare with)")
    if args.json and mode == "notes":
        raise InputError("--notes prints Markdown; --diff OLD --json gives the changes as JSON")
    return mode


def _summary(results: list[PackageResult]) -> str:
    rows = [("package", "nevra", "builder", "time", "signed by")]
    for r in results:
        evr = f"{r.source.name}-{r.source.evr}"
        rows.append((r.name, evr, r.builder, f"{r.seconds:.1f}s", r.signed_by.description))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for r in results:
        lines += [f"  {r.name}: {note}" for note in r.notes]
        verb = "kept" if r.builder == "cached" else "wrote"  # a cached package's files were written before
        lines += [f"  {r.name}: {verb} {f.path}" for f in r.files]
    return "\n".join(lines)


def _gate(layout: ReleaseLayout, args: argparse.Namespace) -> Callable[[Path, TrustSources], list[str]]:
    """The release job's check of the next release before it is published: dnf accepts it, and it is
    reproduced from its own SRPMs, against the keys the run signed with."""

    from altai_release.builders import choose_builder_kind

    builder = choose_builder_kind(args.builder)  # the run's: the release is reproduced by what built it

    def gate(release_dir: Path, trust: TrustSources) -> list[str]:
        from altai_release.core.errors import VerificationError
        from altai_release.release.check.acceptance import accept
        from altai_release.release.check.rebuild_check import verify_release

        accepted = accept(layout, release_dir, args.base_repos, shown_as="the new release (not published)")
        for line in accepted:
            log.info("ok: %s", line)
        checks = [f"dnf: {line}" for line in accepted]
        verification = verify_release(layout, release_dir, args.jobs, builder, trust)
        verdicts = verification.verdicts
        failed = [v for v in verdicts if not v.ok]
        if failed:
            first = f"{failed[0].path}: {failed[0].verdict}"
            raise VerificationError(f"the new release fails verification ({len(failed)} files), the first: {first}")
        reproduced = sum(v.verdict == "reproduced" for v in verdicts)
        log.info("ok: every binary package reproduced from its SRPM")
        keys = "; ".join(f"{k.name} {k.fingerprints[0]}" for k in verification.trusted)
        checks.append(
            f"every binary package reproduced from its SRPM with {builder} ({reproduced} binary "
            f"package{'s' if reproduced != 1 else ''}; signatures against the run's keys ({keys}), metadata, "
            "manifest, SBOM, provenance statements and SHA256SUMS checked: --verify)"
        )
        return checks

    return gate


def _build(args: argparse.Namespace) -> int:
    from altai_release.layout import load_layout
    from altai_release.release.run.pipeline import BuildOptions, ReleaseBuild

    if args.jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {args.jobs}")
    if args.passphrase_file is not None:
        from altai_release.core.userfiles import read_bytes

        if not read_bytes(args.passphrase_file, "passphrase file", 64 * 1024).strip():
            raise InputError(f"{args.passphrase_file}: the passphrase file is empty")
    layout = load_layout(args.layout)
    options = BuildOptions(
        out=args.out,
        state_dir=args.state_dir,
        builder=args.builder,
        jobs=args.jobs,
        sign_key=args.sign_key,
        require_key=args.require_key,
        passphrase_file=args.passphrase_file.absolute() if args.passphrase_file else None,
        base_url=args.base_url,
        wait_seconds=args.wait,
        rebuild=args.rebuild,
        gate=_gate(layout, args) if args.gate else None,
    )
    results = ReleaseBuild(layout, options).run(sorted(layout.packages) if args.all else args.packages, args.all)
    if args.json:
        print(json.dumps({"ok": True, "packages": [r.as_json() for r in results]}, indent=2))
    elif not args.quiet:  # -q: warnings and errors only
        print(_summary(results))
    return 0


MODES: dict[str, Callable[[argparse.Namespace], int]] = {
    "build": _build,
    "diff": reports.diff,
    "notes": reports.notes,
    "explain": reports.explain,
    "accept": reports.accept,
    "verify": reports.verify,
}


def build_main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def body() -> int:
        from altai_release.layout.places import default_out, find_layout, places

        mode = mode_of(args)
        if mode == "diff":  # manifests only: the layout, at most to find OUT, and no state
            if args.against is None and args.out is None:
                args.out = default_out(find_layout(args.layout))
            return MODES[mode](args)
        found = places(args.layout, args.out, args.state_dir)
        args.layout, args.out, args.state_dir = found.layout, found.out, found.state_dir
        return MODES[mode](args)

    return run(args, body)


if __name__ == "__main__":
    sys.exit(build_main())
