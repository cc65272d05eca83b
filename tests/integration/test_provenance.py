"""metadata/provenance/*.intoto.jsonl: one DSSE envelope per binary package the release built, holding an
in-toto Statement v1 with the SLSA Provenance v1 predicate, signed by the metadata key. Checked here with the
standard tools as docs/release-tree.md tells a reader to (the PAE rebuilt by hand, gpgv with the tree's
key); the same bytes from the same inputs; --verify passes the tree and names each altered, unsigned or
missing statement."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from altai_testlib import LIB_SPEC, NOVA_FPING_VR, ROOT, build
from rpmtools import serve

PROVENANCE = Path("metadata/provenance")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, from the DSSE specification (not from the tool)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def gpgv(tree: Path, envelope: dict, work: Path) -> subprocess.CompletedProcess[str]:
    work.mkdir(parents=True, exist_ok=True)
    keyring = work / "key.gpg"
    subprocess.run(
        ["gpg", "--dearmor", "--batch", "--yes", "--output", str(keyring), str(tree / "RPM-GPG-KEY-altai")],
        check=True,
        capture_output=True,
    )
    (work / "pae").write_bytes(pae(envelope["payloadType"], base64.b64decode(envelope["payload"])))
    (work / "sig").write_bytes(base64.b64decode(envelope["signatures"][0]["sig"]))
    return subprocess.run(
        ["gpgv", "--keyring", str(keyring), str(work / "sig"), str(work / "pae")], capture_output=True, text=True
    )


def test_each_built_binary_has_one_signed_statement(release, state_dir, gnupghome, tmp_path):
    out = release["out"]
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    binaries = {e["path"]: e for e in manifest["packages"] if e["arch"] != "src"}
    listed = manifest["attestations"]["provenance"]
    assert set(listed) == set(binaries)  # every binary of the test layout is ours (own or rebuilt)
    assert manifest["attestations"]["sbom"] == "metadata/altai-9.9.cdx.json"
    assert sorted(p.name for p in (out / PROVENANCE).iterdir()) == sorted(Path(p).name for p in listed.values())
    for path, statement_path in listed.items():
        lines = (out / statement_path).read_text().splitlines()
        assert len(lines) == 1
        envelope = json.loads(lines[0])
        assert envelope["payloadType"] == "application/vnd.in-toto+json"
        checked = gpgv(out, envelope, tmp_path / Path(path).name)
        assert checked.returncode == 0, checked.stderr
        assert "Good signature" in checked.stderr
        statement = json.loads(base64.b64decode(envelope["payload"]))
        assert statement["_type"] == "https://in-toto.io/Statement/v1"
        assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
        sha256 = hashlib.sha256((out / path).read_bytes()).hexdigest()
        assert statement["subject"] == [{"name": Path(path).name, "digest": {"sha256": sha256}}]
        definition, run = statement["predicate"]["buildDefinition"], statement["predicate"]["runDetails"]
        assert definition["buildType"].startswith("https://")
        entry = binaries[path]
        assert definition["externalParameters"]["package"] == entry["origin"]
        assert (
            definition["externalParameters"]["layout"]["sha256"]
            == hashlib.sha256(release["layout"].read_bytes()).hexdigest()
        )
        commits = [d["digest"].get("gitCommit") for d in definition["resolvedDependencies"]]
        assert entry["source"]["commit"] in commits
        assert any(d.get("name", "").endswith(".src.rpm") for d in definition["resolvedDependencies"])
        assert run["builder"]["id"].endswith("/local")
        assert run["metadata"]["startedOn"] == run["metadata"]["finishedOn"]

    first = {p.name: p.read_bytes() for p in (out / PROVENANCE).iterdir()}
    assert build(release, state_dir, gnupghome, "--all", "--rebuild").returncode == 0
    assert {p.name: p.read_bytes() for p in (out / PROVENANCE).iterdir()} == first  # the same bytes
    verified = build(release, state_dir, gnupghome, "--verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_verify_names_each_altered_or_missing_statement(release, state_dir, gnupghome, tmp_path):
    out = release["out"]
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    copy = tmp_path / "tree"
    shutil.copytree(out.resolve(), copy, symlinks=True)
    first, second, third = sorted((copy / PROVENANCE).iterdir())[:3]
    # 1: the subject's digest changed (the payload re-encoded, the old signature kept)
    envelope = json.loads(first.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    first.write_text(json.dumps(envelope) + "\n")
    # 2: one byte of the signature changed
    envelope = json.loads(second.read_text())
    signature = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    signature[-5] ^= 0x01
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()
    second.write_text(json.dumps(envelope) + "\n")
    # 3: a statement removed
    third.unlink()
    run = build(release, state_dir, gnupghome, "--verify", str(copy))
    said = run.stdout + run.stderr
    assert run.returncode != 0
    assert first.name in said
    assert second.name in said
    assert "bad signature" in said
    assert f"has no provenance statement ({PROVENANCE / third.name})" in said


def test_the_documented_check_of_a_statement_works_as_written(release, state_dir, gnupghome, tmp_path):
    """docs/release-tree.md's commands, run by bash in a copy of the tree, the file names of this release
    put in, KEY the key the release was signed with (kept apart from the tree), python3 the venv's (which
    has cyclonedx-python-lib, as the text asks)."""
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    doc = (ROOT / "docs" / "release-tree.md").read_text()
    block = doc.split("With the standard tools", 1)[1].split("\n\n", 2)[1]
    lines = [line.strip() for line in block.splitlines() if not line.strip().startswith("#")]
    script = "\n".join(lines).replace("nova-fping-0.2.0-4.el6", f"nova-fping-{NOVA_FPING_VR}")
    version = json.loads((release["out"] / "manifest.json").read_text())["version"]
    script = script.replace("altai-1.0.2.cdx.json", f"altai-{version}.cdx.json")
    work, served = tmp_path / "work", release["out"].resolve()
    work.mkdir()
    key = tmp_path / "announced.asc"
    shutil.copy(served / "RPM-GPG-KEY-altai", key)
    with serve(served) as url:
        env = {
            **os.environ,
            "KEY": str(key),
            "URL": url,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        }
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=work, capture_output=True, text=True, env=env
        )
    assert done.returncode == 0, done.stderr
    # the release fetched whole, repodata included, and nothing else: the check writes apart
    assert sorted(str(p.relative_to(work)) for p in work.rglob("*")) == sorted(
        str(p.relative_to(served)) for p in served.rglob("*")
    )
    assert "Good signature" in done.stderr
    subject = json.loads(done.stdout.split("\n]\n", 1)[0] + "\n]")
    digest = done.stdout.split("\n]\n", 1)[1].split()[0]
    assert subject[0]["digest"]["sha256"] == digest


def test_a_kept_package_keeps_the_layout_and_macros_it_was_built_with(release, state_dir, gnupghome):
    """A later run that keeps a package (its inputs unchanged) does not claim it was built with that run's
    layout: the statement names the layout's digest of the build."""
    out, layout = release["out"], release["layout"]
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    built_with = hashlib.sha256(layout.read_bytes()).hexdigest()
    statement = out / "metadata" / "provenance" / f"nova-fping-{NOVA_FPING_VR}.noarch.rpm.intoto.jsonl"
    first = statement.read_bytes()
    layout.write_text(layout.read_text() + "\n# a comment: the layout's bytes change, no package's inputs do\n")
    release["lib"].commit({"libaltai.spec": LIB_SPEC.replace("Release: 1%", "Release: 2%")})
    run = build(release, state_dir, gnupghome, "--all")
    assert run.returncode == 0, run.stderr
    assert "nova-fping: inputs unchanged" in run.stderr
    assert "libaltai-1.2-2.el6.x86_64.rpm" in json.dumps(json.loads((out / "manifest.json").read_text()))
    assert statement.read_bytes() == first  # re-made in the new tree, from what the manifest recorded
    payload = json.loads(base64.b64decode(json.loads(first)["payload"]))
    parameters = payload["predicate"]["buildDefinition"]["externalParameters"]
    assert parameters["layout"]["sha256"] == built_with
    names = [d.get("name") for d in payload["predicate"]["buildDefinition"]["resolvedDependencies"]]
    assert "el6.macros" in names
