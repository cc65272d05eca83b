"""The journeys after the two commands, as a user reads them: the notes and page of consecutive releases of
one version told apart, with who signed them (a development key said so, a rotation reported); what a
run prints about cached and published packages; and first runs that fail leaving nothing behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

from altai_testlib import LIB_SPEC, assert_one_line_error, build, run_tool
from rpmtools import make_key


def _notes(out: Path) -> str:
    return (out / "RELEASE-NOTES.md").read_text()


def test_notes_tell_releases_of_one_version_apart_and_say_who_signed(release, state_dir, gnupghome, tmp_path):
    out = release["out"]
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    first = json.loads((out / "manifest.json").read_text())
    first_manifest = tmp_path / "first.json"
    first_manifest.write_text(json.dumps(first))
    assert first["id"] == out.resolve().name
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["published"])
    notes = _notes(out)
    assert f"Release `{first['id']}`, published {first['published'][:10]}" in notes
    keyid = first["packages"][0]["signer_keyid"].upper()
    assert "**Signed with a DEVELOPMENT key" in notes
    assert keyid in notes
    assert f"| altai ({keyid}) |" in notes  # the repository table names the key and its id
    page = (out / "index.html").read_text()
    assert "DEVELOPMENT key" in page
    assert first["id"] in page

    release["lib"].commit({"libaltai.spec": LIB_SPEC.replace("Release: 1%", "Release: 2%")})
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    second = json.loads((out / "manifest.json").read_text())
    assert second["id"] != first["id"]
    assert second["version"] == first["version"]
    assert f"Changes against altai 9.9, release `{first['id']}`" in _notes(out)

    # a rotation: another key signs; the kept packages are re-signed and the notes and --diff say so
    make_key(gnupghome, "Altai Rotated Key <rotated@altai.example>")
    run = build(release, state_dir, gnupghome, "libaltai", "--rebuild", "--sign-key", "Altai Rotated Key")
    assert run.returncode == 0, run.stderr
    rotated = json.loads((out / "manifest.json").read_text())
    newid = rotated["packages"][0]["signer_keyid"].upper()
    assert newid != keyid
    notes = _notes(out)
    assert f"Signing key **altai** changed: {keyid.lower()} → {newid.lower()}" in notes
    assert "Signed with a DEVELOPMENT key" not in notes  # every package of the release carries the new key
    diff = build(release, state_dir, gnupghome, "--diff", str(first_manifest))
    assert f"key         altai: {keyid.lower()} -> {newid.lower()}" in diff.stdout.splitlines()
    as_json = json.loads(build(release, state_dir, gnupghome, "--diff", str(first_manifest), "--json").stdout)
    assert as_json["key_changes"] == [{"key": "altai", "old": [keyid.lower()], "new": [newid.lower()]}]
    assert as_json["old"]["id"] == first["id"]
    assert as_json["new"]["id"] == rotated["id"]

    # --notes OLD: "published" is the release's own time, not the time the command runs
    again = build(release, state_dir, gnupghome, "--notes", str(first_manifest))
    stamp = rotated["published"].replace("T", " ").replace("Z", " UTC")
    assert f"Release `{rotated['id']}`, published {stamp}" in again.stdout


def test_run_output_says_kept_and_counts_packages_not_files(release, state_dir, gnupghome):
    first = build(release, state_dir, gnupghome, "libaltai")
    assert first.returncode == 0, first.stderr
    assert re.search(r"published .* \(2 packages, 1 source package\)", first.stderr), first.stderr
    assert "libaltai: wrote " in first.stdout
    cached = build(release, state_dir, gnupghome, "libaltai")
    assert "nothing changed" in cached.stderr
    assert "libaltai: kept " in cached.stdout
    assert "wrote" not in cached.stdout


def test_first_runs_that_fail_leave_no_directory_behind(release, state_dir, gnupghome, tmp_path):
    outdir = tmp_path / "srpms" / "new"
    run = run_tool("git2srpm.py", "https://127.0.0.1:9/nothing.git", "--outdir", str(outdir))
    assert_one_line_error(run, "https://127.0.0.1:9/nothing.git: cannot clone")
    reason = run.stderr.split("cannot clone: ", 1)[1]
    assert run.stderr.count(reason.split(":")[0]) == 1  # git's reason once, not twice
    assert not (tmp_path / "srpms").exists()

    layout = release["layout"]
    layout.write_text(layout.read_text().replace("[packages.libaltai]\n", '[packages.libaltai]\nref = "no-such-ref"\n'))
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, "no-such-ref")
    assert not release["out"].exists()
    assert not release["out"].with_name("out.store").exists()


def test_a_copied_layout_whose_git_path_is_gone_names_the_package_and_key(release, state_dir, gnupghome):
    layout = release["layout"]
    text = layout.read_text()
    layout.write_text(re.sub(r'(\[packages\.libaltai\]\ngit = )"[^"]*"', r'\1".."', text))
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, "libaltai: packages.libaltai.git in", str(layout), "not a git repository")


def test_exit_codes_match_the_readme(release, state_dir, gnupghome, tmp_path):
    not_rpm = tmp_path / "hello.src.rpm"
    not_rpm.write_text("hello\n")
    run = run_tool("srpm2git.py", str(not_rpm), str(tmp_path / "repo"))
    assert run.returncode == 2, run.stderr  # bad input
    make_key(gnupghome, "Locked Key <locked@altai.example>", passphrase="right")
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong\n")
    run = build(release, state_dir, gnupghome, "libaltai", "--sign-key", "Locked Key", "--passphrase-file", str(wrong))
    assert_one_line_error(run, "wrong passphrase")
    assert run.returncode == 4, run.stderr  # a key or passphrase


def test_a_rotation_made_with_sign_key_is_never_silently_undone(release, state_dir, gnupghome):
    """The layout still names the old key and GNUPGHOME holds both: a plain run used to re-sign everything
    back to the old key, exit 0, with one info line that -q hides."""
    make_key(gnupghome, "Altai Test Release Key <release@altai.example>")
    new = make_key(gnupghome, "Altai New Key <new@altai.example>")
    out = release["out"]
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    old = json.loads((out / "manifest.json").read_text())["packages"][0]["signer_keyid"].upper()

    rotated = build(release, state_dir, gnupghome, "libaltai", "--sign-key", "Altai New Key")
    assert rotated.returncode == 0, rotated.stderr
    assert f"set that id to '{new.fingerprint}'" in rotated.stderr  # the rotation says how to keep it
    signed = {p["signer_keyid"].upper() for p in json.loads((out / "manifest.json").read_text())["packages"]}
    assert signed == {new.fingerprint[-16:].upper()}
    before = (out / "manifest.json").read_bytes()

    undo = build(release, state_dir, gnupghome, "libaltai", "-q")
    assert_one_line_error(undo, "a rotation made with --sign-key", new.fingerprint, "[keys.altai] id")
    assert undo.returncode == 4
    assert (out / "manifest.json").read_bytes() == before

    # the command line may move it back, and the layout may take the rotation up
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('id = "Altai Test Release Key"', f'id = "{new.fingerprint}"'))
    kept = build(release, state_dir, gnupghome, "libaltai")
    assert kept.returncode == 0, kept.stderr
    assert (out / "manifest.json").read_bytes() == before
    back = build(release, state_dir, gnupghome, "libaltai", "--sign-key", "Altai Test Release Key")
    assert back.returncode == 0, back.stderr
    signed = {p["signer_keyid"].upper() for p in json.loads((out / "manifest.json").read_text())["packages"]}
    assert signed == {old}
