"""build.py's modes that build nothing and report: --diff, --notes, --explain, --accept and --verify."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from altai_release.cli.common import LOGGER, one_line, printable

log = logging.getLogger(LOGGER)


def _newer_manifest(args: argparse.Namespace) -> Path:
    from altai_release.release.publish.store import ReleaseStore
    from altai_release.rpm.manifest import MANIFEST_NAME

    return (args.against or ReleaseStore(args.out).out / MANIFEST_NAME).absolute()


def diff(args: argparse.Namespace) -> int:
    from altai_release.rpm.manifest import Manifest
    from altai_release.rpm.manifestdiff import Change, diff, key_changes

    old, new = Manifest.load(args.diff), Manifest.load(_newer_manifest(args))
    changes, keys = diff(old, new), key_changes(old, new)
    binary = [c for c in changes if c.arch != "src"]
    counts = {k: sum(c.kind == k for c in binary) for k in Change.KINDS}
    if args.json:
        report = {
            "ok": True,
            "old": {"version": old.version, "id": old.id, "published": old.published},
            "new": {"version": new.version, "id": new.id, "published": new.published},
            "changes": [vars(c) for c in changes],
            "counts": counts,
            "key_changes": [vars(k) for k in keys],
        }
        print(json.dumps(report, indent=2))
        return 0
    for line in [*changes, *keys]:
        print(line)
    sources = len(changes) - len(binary)
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    keys_changed = "".join(f"; signing key {k.key} changed" for k in keys)
    plural = "s" if sources != 1 else ""
    log.info("%s (binary packages; %d source package change%s)%s", summary, sources, plural, keys_changed)
    return 0


def notes(args: argparse.Namespace) -> int:
    from altai_release.layout import load_layout
    from altai_release.release.publish.notes import markdown
    from altai_release.rpm.manifest import Manifest

    new_path, old_path = _newer_manifest(args), args.notes.absolute()
    new, old = Manifest.load(new_path), Manifest.load(old_path)
    print(markdown(load_layout(args.layout), new, old, new_path.parent, old_path.parent), end="")
    return 0


def explain(args: argparse.Namespace) -> int:
    from altai_release.cli.explain import explain, facts
    from altai_release.layout import load_layout
    from altai_release.release.publish.store import ReleaseStore

    layout = load_layout(args.layout)
    store = ReleaseStore(args.out)
    downloads, published = store.store / "downloads", store.current_manifest()
    names = sorted(layout.packages) if args.all else args.packages
    if args.json:  # values, not the text view's sentences
        values = {name: facts(layout, name, downloads, None, published) for name in names}
        print(json.dumps({"ok": True, "packages": values}, indent=2))
        return 0
    found = {name: explain(layout, name, downloads, None, published) for name in names}
    for name, pairs in found.items():
        print("\n".join([f"{name}:", *(f"  {what + ':':<12} {value}" for what, value in pairs)]))
    return 0


def accept(args: argparse.Namespace) -> int:
    from altai_release.layout import load_layout
    from altai_release.release.check.acceptance import accept
    from altai_release.release.publish.store import ReleaseStore

    checks = accept(load_layout(args.layout), ReleaseStore(args.out).out, args.base_repos)
    if args.json:
        print(json.dumps({"ok": True, "checks": checks}, indent=2))
    for line in checks:
        log.info("ok: %s", line)
    return 0


def verify(args: argparse.Namespace) -> int:
    from altai_release.builders import choose_builder_kind
    from altai_release.core.errors import VerificationError
    from altai_release.layout import load_layout
    from altai_release.release.check.rebuild_check import verify_release
    from altai_release.release.publish.store import ReleaseStore
    from altai_release.signing.trust import TrustSources

    tree = args.verify if args.verify != Path("") else ReleaseStore(args.out).out
    trust = TrustSources(tuple(args.trust_key), state_dir=args.state_dir)
    layout, kind = load_layout(args.layout), choose_builder_kind(args.builder)
    if isinstance(tree, str):  # a URL: the tree as its server serves it, fetched first
        from altai_release.release.check.served_tree import download_tree
        from altai_release.sandbox.scratch import held_workdir

        with held_workdir("altai-fetched-") as work:
            fetched = download_tree(tree, work / "tree", layout.downloads, args.jobs)
            verification = verify_release(layout, fetched, args.jobs, kind, trust)
    else:
        verification = verify_release(layout, tree, args.jobs, kind, trust)
    verdicts = verification.verdicts
    failed = [v for v in verdicts if not v.ok]
    reproduced = sum(v.verdict == "reproduced" for v in verdicts)
    error = None
    if failed:
        first = f"{failed[0].path}: {failed[0].verdict}"
        said = f"{tree}: {len(failed)} of {len(verdicts)} files fail verification, the first: {first}"
        error = VerificationError(said)
    trusted = [{"key": k.name, "fingerprints": list(k.fingerprints), "from": k.source} for k in verification.trusted]
    if args.json:
        report: dict[str, object] = {"ok": not failed, "tree": str(tree), "trusted_keys": trusted}
        report["files"] = [vars(v) for v in verdicts]
        if error is not None:
            report |= {"error": one_line(str(error)), "exit_code": error.exit_code}
            error.reported = True
        print(json.dumps(report, indent=2))
    else:  # -q: the FAIL lines only
        for key in [] if args.quiet else verification.trusted:
            print(printable(f"key   {key}"))
        for v in verdicts:
            if not (v.ok and args.quiet):
                print(printable(f"{'ok' if v.ok else 'FAIL':<4}  {v.path}: {v.verdict}"))
    counted = f"{reproduced} binary package{'s' if reproduced != 1 else ''} reproduced"
    keys = ", ".join(f"{k.name} {k.fingerprints[0]}" for k in verification.trusted)
    log.info("%s: %s files checked against %s, %s, %s failed", tree, len(verdicts), keys, counted, len(failed))
    if error is not None:
        raise error
    return 0
