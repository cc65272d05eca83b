"""build.py's report modes in-process, on the manifests of two real releases: --diff (text and --json),
--notes, and a failure as one `error:` line with its exit code (and a JSON object under --json)."""

from __future__ import annotations

import json
from pathlib import Path

from altai_release.cli.build import build_main
from altai_release.rpm.manifest import MANIFEST_NAME
from altai_testlib import SHIPPED_LAYOUT


def manifests(releases):
    paths = []
    for version in ("1.0", "1.1"):
        top, manifest = releases[version]
        (top / MANIFEST_NAME).write_text(manifest.to_json())
        paths.append(str(top / MANIFEST_NAME))
    return paths


def test_diff_says_what_changed(releases, tmp_path, capsys):
    old, new = manifests(releases)
    assert build_main(["--diff", old, "--against", new]) == 0
    out = capsys.readouterr()
    assert "upgraded" in out.out
    assert "tool" in out.out
    assert "1 upgraded" in out.err
    assert build_main(["--diff", old, "--against", new, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["upgraded"] == 1
    assert report["old"]["version"] == "1.0"
    assert {c["kind"] for c in report["changes"]} == {"upgraded"}


def test_notes_print_the_markdown(releases, tmp_path, capsys):
    old, new = manifests(releases)
    assert build_main(["--notes", old, "--against", new, "--layout", str(SHIPPED_LAYOUT)]) == 0
    assert "faster; smaller" in capsys.readouterr().out


def test_a_failure_is_one_line_and_its_code(tmp_path, capsys):
    missing = str(tmp_path / "missing.json")
    code = build_main(["--diff", missing, "--against", missing, "--json"])
    out = capsys.readouterr()
    assert code != 0
    assert out.err.count("\n") == 1
    assert out.err.startswith("error: ")
    assert "missing.json" in out.err
    assert json.loads(out.out) == {"ok": False, "error": out.err.removeprefix("error: ").strip(), "exit_code": code}


def test_diff_against_a_tree_reads_no_layout(releases, tmp_path, capsys, monkeypatch):
    """`--diff OLD --out TREE` from a directory that keeps no layout: nothing but the two manifests is read."""
    old, new = manifests(releases)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALTAI_LAYOUT", raising=False)
    assert build_main(["--diff", old, "--out", str(Path(new).parent)]) == 0
    assert "1 upgraded" in capsys.readouterr().err
