"""`tools/build.py --verify`: a published release checked by its own contents and rebuilt from its own
SRPMs. Every binary package of a release built here is reproduced; a tree that was tampered with (a file
changed, a source removed, a binary that its SRPM does not make) fails with the package named, exit 4; the
tree is only read (a read-only copy verifies as well)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from altai_testlib import assert_one_line_error, build, tree


def _verify(release, state_dir, gnupghome, where: Path | None = None, *extra: str):
    return build(release, state_dir, gnupghome, "--verify", *([str(where)] if where else []), *extra)


def test_a_release_built_here_is_reproduced_from_its_own_sources(release, state_dir, gnupghome, tmp_path):
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    run = _verify(release, state_dir, gnupghome, None, "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    binaries = [f for f in report["files"] if f["path"].endswith(".rpm") and not f["path"].endswith(".src.rpm")]
    assert report["verified"] and binaries and all(f["verdict"] == "reproduced" for f in binaries)
    assert len(binaries) == 4  # nova-fping, altai-app, libaltai and libaltai-devel

    # a copy a user downloaded, read-only: verified the same, and nothing written into it
    copy = tmp_path / "downloaded"
    shutil.copytree(release["out"].resolve(), copy)
    before = tree(copy)
    subprocess.run(["chmod", "-R", "a-w", str(copy)], check=True)
    try:
        again = _verify(release, state_dir, gnupghome, copy)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(copy)], check=True)
    assert again.returncode == 0, again.stderr
    assert "reproduced" in again.stdout and tree(copy) == before


def test_a_changed_file_and_a_missing_source_are_named(release, state_dir, gnupghome, tmp_path):
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    copy = tmp_path / "tampered"
    shutil.copytree(release["out"].resolve(), copy)
    rpm = next((copy / "deps" / "misc").glob("libaltai-devel-*.rpm"))
    data = bytearray(rpm.read_bytes())
    data[-100] ^= 0xFF  # a byte of the payload
    rpm.write_bytes(bytes(data))
    run = _verify(release, state_dir, gnupghome, copy)
    assert_one_line_error(run, "fail verification", rpm.name)
    assert run.returncode == 4
    assert f"FAIL  deps/misc/{rpm.name}: checksum differs" in run.stdout

    for srpm in (copy / "deps" / "misc-srpms").glob("*.src.rpm"):
        srpm.unlink()
    run = _verify(release, state_dir, gnupghome, copy)
    assert run.returncode == 4 and "no source: libaltai-1.2-1.el6.src.rpm is not in misc-srpms/" in run.stdout


def test_a_binary_its_srpm_does_not_make_is_told_apart(release, state_dir, gnupghome, tmp_path):
    """Same NEVRA, same key, consistent metadata and manifest: only rebuilding the SRPM shows that the
    binary was not made from it."""
    from altai_release.repodata import write_repodata

    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    original_srpm = next((release["out"] / "deps" / "misc-srpms").glob("*.src.rpm"))
    kept = tmp_path / original_srpm.name
    shutil.copy(original_srpm, kept)
    release["lib"].commit({"lib.txt": "other library, same NEVRA\n"})
    other = {**release, "out": tmp_path / "other"}
    assert build(other, state_dir, gnupghome, "libaltai").returncode == 0
    copy = tmp_path / "mixed"
    shutil.copytree(other["out"].resolve(), copy)
    sources = copy / "deps" / "misc-srpms"
    shutil.copy(kept, sources / kept.name)  # the published SRPM is the first commit's
    write_repodata(sources, {}, 1)
    manifest = json.loads((copy / "manifest.json").read_text())
    import hashlib

    for entry in manifest["packages"]:
        if entry["arch"] == "src":
            entry["sha256"] = hashlib.sha256(kept.read_bytes()).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))

    run = _verify(release, state_dir, gnupghome, copy)
    assert run.returncode == 4, run.stdout
    assert "FAIL  deps/misc/libaltai-1.2-1.el6" in run.stdout and "differs:" in run.stdout
    assert "files /usr/share/libaltai/built.txt" in run.stdout


def test_not_a_release_is_bad_input(release, state_dir, gnupghome, tmp_path):
    run = _verify(release, state_dir, gnupghome, tmp_path)
    assert_one_line_error(run, "not a release tree")
    assert run.returncode == 2


def test_a_package_resigned_with_another_key_is_a_signature_failure(release, state_dir, gnupghome, tmp_path):
    """Metadata and manifest made consistent with the re-signed file: only its signature tells."""
    import hashlib

    from altai_release.repodata import write_repodata
    from rpmtools import make_key, rpmsign

    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    copy = tmp_path / "resigned"
    shutil.copytree(release["out"].resolve(), copy)
    rpm = next((copy / "deps" / "misc").glob("libaltai-devel-*.rpm"))
    intruder = make_key(tmp_path / "intruder-gnupg", "Intruder <intruder@example.invalid>")
    subprocess.run(["rpmsign", "--delsign", str(rpm)], check=True, capture_output=True)
    rpmsign(intruder, [rpm])
    write_repodata(copy / "deps" / "misc", {}, 2)
    manifest = json.loads((copy / "manifest.json").read_text())
    for entry in manifest["packages"]:
        if entry["path"].endswith(rpm.name):
            entry["sha256"] = hashlib.sha256(rpm.read_bytes()).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    run = _verify(release, state_dir, gnupghome, copy)
    assert run.returncode == 4, run.stdout
    assert f"FAIL  deps/misc/{rpm.name}: bad signature" in run.stdout


def test_srpms_beside_their_binaries_are_rebuilt_too(release, state_dir, gnupghome):
    """A repository of our own without a repository of sources keeps its SRPMs beside the binaries."""
    layout = release["layout"]
    own = 'content = "own"\n'
    layout.write_text(layout.read_text().replace(own + 'sources = "centos6-srpms"\n', own, 1))
    assert build(release, state_dir, gnupghome, "nova-fping").returncode == 0
    assert list((release["out"] / "centos6").glob("nova-fping-*.src.rpm"))
    run = _verify(release, state_dir, gnupghome)
    assert run.returncode == 0, run.stdout
    assert "ok    centos6/nova-fping-" in run.stdout and ".noarch.rpm: reproduced" in run.stdout


def test_links_and_fifos_named_like_packages_are_named_and_never_read(release, state_dir, gnupghome, tmp_path):
    """A tree is somebody's input: an SRPM that is a link to /dev/zero, a binary that is a FIFO and a key
    that is a link to /dev/zero would each be an endless read. Each is a FAIL naming it; verify ends."""
    import os

    from altai_testlib import build_argv

    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    copy = tmp_path / "planted"
    shutil.copytree(release["out"].resolve(), copy)
    (copy / "deps" / "misc-srpms" / "zero-1-1.el6.src.rpm").symlink_to("/dev/zero")
    os.mkfifo(copy / "deps" / "misc" / "fifo-1-1.el6.noarch.rpm")
    argv = build_argv(release, state_dir, "--verify", str(copy))
    env = {**os.environ, "GNUPGHOME": str(gnupghome)}
    run = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, timeout=300)
    assert run.returncode == 4, run.stdout + run.stderr
    assert "FAIL  deps/misc-srpms/zero-1-1.el6.src.rpm: not a regular file" in run.stdout
    assert "FAIL  deps/misc/fifo-1-1.el6.noarch.rpm: not a regular file" in run.stdout
    assert "ok    deps/misc/libaltai-1.2-1.el6" in run.stdout  # the real packages still verified

    key = next(copy.glob("RPM-GPG-KEY-*"))
    key.unlink()
    key.symlink_to("/dev/zero")
    run = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, timeout=300)
    assert run.returncode == 4, run.stdout + run.stderr  # ended: the key is not taken from a device
    assert f"no key: the tree has no {key.name}" in run.stdout
