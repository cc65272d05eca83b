"""Command-line entry points. Thin: parse arguments, call the package, turn errors into one line."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from . import timing
from .errors import AltaiError, InputError
from .paths import DEFAULT_LAYOUT, DEFAULT_OUT, DEFAULT_STATE

if TYPE_CHECKING:
    from .results import PackageResult

# Each command imports what it needs where it needs it: git2srpm does not pay for the release pipeline.


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one `error:` line like every other failure (exit 2)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def _path(text: str) -> Path:
    """A path argument: never empty (it would mean the current directory), and UTF-8 (it is written into
    manifests, .repo files and messages)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path (say . for the current directory where one is allowed)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{text.encode('utf-8', 'surrogateescape')!r} is not UTF-8") from None
    return Path(text)


def _mib(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1 << 20:
        raise argparse.ArgumentTypeError(f"expected a whole number of MiB from 1 to {1 << 20}, found {text!r}")
    return value


def _text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty value")
    return text


class Terminated(Exception):
    """SIGTERM: unwinds like Ctrl-C, so that every `finally` removes what the run had started."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def _run(body: Callable[[], int]) -> int:
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        status = body()
        timing.summary()
        return status
    except Terminated:
        print("error: terminated", file=sys.stderr)
        return 143
    except AltaiError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        culprit = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {culprit}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds >= 0, got {value!r}")
    return seconds


def _define(value: str) -> tuple[str, str]:
    name, _, body = value.strip().partition(" ")
    if not name or name.startswith("-"):
        raise argparse.ArgumentTypeError(f"--define wants 'NAME VALUE', got {value!r}")
    return name, body.strip()


def git2srpm_main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog="git2srpm", description="Make a reproducible tarball and SRPM from a commit of a git repository."
    )
    parser.add_argument("repo", metavar="REPO", help="local path or git URL")
    parser.add_argument("--ref", default="HEAD", help="commit, branch or tag to build (default HEAD)")
    parser.add_argument("--subdir", metavar="DIR", help="directory of the repository to pack (default: root)")
    parser.add_argument("--spec", metavar="PATH", help="spec file, as a path in the repository")
    parser.add_argument("--outdir", metavar="DIR", type=_path, default=Path("."), help="default: .")
    parser.add_argument("--dist", metavar="TAG", help="value of %%{dist}, e.g. .el6")
    parser.add_argument("--snapshot", action="store_true", help="add .git.N.HASH to Release")
    parser.add_argument("--define", metavar="'NAME VALUE'", type=_define, action="append", default=[])
    parser.add_argument("--macros", metavar="FILE", type=_path, action="append", default=[])
    parser.add_argument("--no-tarball", action="store_true", help="keep only the SRPM in OUTDIR")
    parser.add_argument("--lookaside", metavar="URL", help="lookaside cache for the files listed in `sources`")
    parser.add_argument("--cache", metavar="DIR", type=_path, help="download cache (default ~/.cache/altai-release)")
    parser.add_argument("--offline", action="store_true", help="files listed in `sources` from the cache only")
    parser.add_argument("--submodules", action="store_true", help="include the submodules' trees in the tarball")
    parser.add_argument("--verbose", "-v", action="store_true", help="log the time of every step on stderr")
    args = parser.parse_args(argv)
    if args.verbose:
        timing.enable()

    def body() -> int:
        from .srpm import SrpmRequest, make_srpm

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
        result = make_srpm(request, warn=_warn)
        if result.tarball:
            print(result.tarball)
        print(result.srpm)
        return 0

    return _run(body)


def _summary(results: list[PackageResult]) -> str:
    rows = [("package", "nevra", "builder", "time", "signed by")]
    for r in results:
        evr = f"{r.source.name}-{r.source.evr}"
        rows.append((r.name, evr, r.builder, f"{r.seconds:.1f}s", r.signed_by.description))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for r in results:
        lines += [f"  {r.name}: {note}" for note in r.notes]
        lines += [f"  {r.name}: wrote {f.path}" for f in r.files]
    return "\n".join(lines)


def build_main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="build", description="Build packages of the release into signed RPMs in the release tree.")
    parser.add_argument("packages", nargs="*", metavar="PACKAGE")
    parser.add_argument("--all", action="store_true", help="build every package of the release")
    parser.add_argument("--layout", type=_path, default=DEFAULT_LAYOUT, help="release description (TOML)")
    parser.add_argument("--out", type=_path, default=DEFAULT_OUT, help="root of the release tree (default: out/)")
    parser.add_argument("--builder", choices=("auto", "mock", "rpmbuild", "koji"), default="auto")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel builds")
    parser.add_argument("--sign-key", metavar="KEYID", type=_text, help="gpg user id or fingerprint for every package")
    parser.add_argument("--require-key", action="store_true", help="never fall back to a development key")
    parser.add_argument("--passphrase-file", type=_path, help="file holding the signing key's passphrase")
    parser.add_argument("--state-dir", type=_path, default=DEFAULT_STATE, help="where the development key lives")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--verbose", "-v", action="store_true", help="log the time of every step on stderr")
    parser.add_argument("--rebuild", action="store_true", help="build even packages whose inputs did not change")
    parser.add_argument("--base-url", help="base URL of the release in altai.repo (default: file:// + OUT)")
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another run publishing to OUT (default: fail at once)",
    )
    parser.add_argument(
        "--diff",
        type=_path,
        metavar="OLD_MANIFEST",
        help="print what the release adds, removes, upgrades, downgrades against OLD_MANIFEST",
    )
    parser.add_argument(
        "--notes",
        type=_path,
        metavar="OLD_MANIFEST",
        help="print the release notes (Markdown) of the release against the one of OLD_MANIFEST",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="show where each named package comes from, where it goes and its signing key (builds nothing)",
    )
    parser.add_argument(
        "--accept",
        action="store_true",
        help="check the published release with dnf: repoclosure and an install of every package (builds nothing)",
    )
    parser.add_argument(
        "--base-repos", type=_path, metavar="FILE", help="with --accept: a .repo file of the base OS repositories"
    )
    parser.add_argument("--against", type=_path, metavar="NEW_MANIFEST", help="with --diff or --notes (default: OUT's)")
    args = parser.parse_args(argv)
    if args.verbose:
        timing.enable()

    from .layout import load_layout
    from .manifest import MANIFEST_NAME, Change, Manifest, diff
    from .release_store import ReleaseStore

    def diff_body() -> int:
        new_path = args.against or ReleaseStore(args.out).out / MANIFEST_NAME
        changes = diff(Manifest.load(args.diff), Manifest.load(new_path))
        for change in changes:
            print(change)
        counts = {k: sum(c.kind == k for c in changes) for k in Change.KINDS}
        print(", ".join(f"{n} {k}" for k, n in counts.items()), file=sys.stderr)
        return 0

    def notes_body() -> int:
        from .notes import markdown

        new_path = (args.against or ReleaseStore(args.out).out / MANIFEST_NAME).absolute()
        old_path = args.notes.absolute()
        new, old = Manifest.load(new_path), Manifest.load(old_path)
        print(markdown(load_layout(args.layout), new, old, new_path.parent, old_path.parent), end="")
        return 0

    def body() -> int:
        for option, value in (("--diff", args.diff), ("--notes", args.notes)):
            if value is not None and (args.packages or args.all):
                raise InputError(f"{option} compares manifests and builds nothing: drop the package names or --all")
        if args.explain:
            from .explain import explain

            layout = load_layout(args.layout)
            if not args.packages and not args.all:
                raise InputError("--explain needs package names (or --all)")
            for name in sorted(layout.packages) if args.all else args.packages:
                print("\n".join(explain(layout, name, ReleaseStore(args.out).store / "downloads")))
            return 0
        if args.accept and (args.packages or args.all):
            raise InputError("--accept checks the published release and builds nothing: run it after the build")
        # an option of one mode given without that mode did nothing, silently
        if args.base_repos is not None and not args.accept:
            raise InputError("--base-repos goes with --accept (a .repo file of the base OS repositories)")
        if args.against is not None and args.diff is None and args.notes is None:
            raise InputError("--against goes with --diff OLD or --notes OLD (the newer manifest to compare with)")
        if args.accept:
            from .acceptance import accept

            for line in accept(load_layout(args.layout), ReleaseStore(args.out).out, args.base_repos):
                print(f"ok: {line}", file=sys.stderr)
            return 0
        if args.diff is not None:
            return diff_body()
        if args.notes is not None:
            return notes_body()
        if args.jobs < 1:
            raise InputError(f"--jobs must be at least 1, got {args.jobs}")
        if args.passphrase_file is not None:
            from .userfiles import read_bytes

            if not read_bytes(args.passphrase_file, "passphrase file", 64 * 1024).strip():
                raise InputError(f"{args.passphrase_file}: the passphrase file is empty")
        layout = load_layout(args.layout)
        names = sorted(layout.packages) if args.all else args.packages
        from .pipeline import BuildOptions, ReleaseBuild

        options = BuildOptions(
            out=args.out,
            state_dir=args.state_dir.absolute(),
            builder=args.builder,
            jobs=args.jobs,
            sign_key=args.sign_key,
            require_key=args.require_key,
            passphrase_file=args.passphrase_file.absolute() if args.passphrase_file else None,
            base_url=args.base_url,
            wait_seconds=args.wait,
            rebuild=args.rebuild,
        )
        builder = ReleaseBuild(layout, options, progress=lambda m: print(m, file=sys.stderr))
        results = builder.run(names, complete=args.all)
        if args.json:
            print(json.dumps([r.as_json() for r in results], indent=2))
        else:
            print(_summary(results))
        return 0

    return _run(body)


def srpm2git_main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog="srpm2git",
        description="Import a source RPM into a new git repository: spec at the root, Source0's tree unpacked, "
        "patches and other sources next to the spec, one commit at the SRPM's build time.",
    )
    parser.add_argument("srpm", metavar="SRPM", type=_path, help="the source RPM (a local file)")
    parser.add_argument("directory", metavar="DIR", type=_path, help="the new repository (absent or empty)")
    parser.add_argument("--max-file-mib", type=_mib, default=512, metavar="MIB", help="largest file unpacked (512)")
    parser.add_argument("--max-total-mib", type=_mib, default=2048, metavar="MIB", help="all files unpacked (2048)")
    args = parser.parse_args(argv)

    def body() -> int:
        from .srpm2git import UnpackLimits, srpm_to_git

        if not args.srpm.is_file():
            raise InputError(f"{args.srpm}: no such file")
        limits = UnpackLimits(args.max_file_mib << 20, args.max_total_mib << 20)
        made = srpm_to_git(args.srpm.absolute(), args.directory.absolute(), limits)
        for note in made.notes:
            _warn(note)
        dist = f" --dist {made.dist}" if made.dist else ""
        print(f"{made.repository}: {made.nevra} at commit {made.commit[:12]}", file=sys.stderr)
        print(f"rebuild it with: tools/git2srpm.py{dist} {made.repository}", file=sys.stderr)
        print(made.repository)
        return 0

    return _run(body)
