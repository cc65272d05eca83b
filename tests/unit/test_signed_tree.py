"""A release tree written in-process (`write_release`), signed with the development key the resolver makes,
then read back by `--verify`'s tree checks: it passes whole, and each kind of damage is a FAIL naming the
file. gpg, rpmsign and rpmkeys are the real tools; the agent is stopped at the end."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from altai_release.core.errors import SigningError, UpstreamError, VerificationError
from altai_release.core.limits import DownloadLimits
from altai_release.layout import Upstream
from altai_release.release.attest.provenance import envelope_line, statement_name, write_provenance
from altai_release.release.publish.claim import foreign_entries
from altai_release.release.run.upstream_import import Importer
from altai_release.rpm.evr import Pin
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest
from altai_release.rpm.repodata import write_repodata
from altai_release.rpm.rpmheader import read_identity
from altai_release.signing.assignment import KeyResolver
from altai_release.signing.keyfiles import public_key_facts
from altai_release.signing.keyring import Keyring
from altai_release.signing.signature_check import KeyDatabases, verify_packages
from altai_release.signing.trust import TrustSources
from unitlib import CHANGES, LAYOUT, RPM_SPEC, SBOM, entry_of, seal, signed_tree, tree_failures, trusting


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, releases):
    work = tmp_path_factory.mktemp("signed")
    resolver = KeyResolver(state_dir=work / "state", gnupghome=work / "no-keys")
    identity = resolver.resolve(LAYOUT.keys["altai"])
    try:
        assert identity.development
        assert any("generated a DEVELOPMENT signing key" in n for n in resolver.notes)
        tree, manifest, public = signed_tree(work, releases["1.1"], identity)
        IDENTITY[:] = [identity, public]
        yield tree, manifest, public, identity
    finally:
        identity.keyring.stop_agent()


@pytest.fixture(scope="module")
def rpmdbs(tmp_path_factory: pytest.TempPathFactory) -> KeyDatabases:
    """One throwaway rpmdb per key for the module, as a run keeps them (an import costs an fsync)."""
    return KeyDatabases(tmp_path_factory.mktemp("rpmdbs"))


IDENTITY: list = []  # the fixture's signing identity and its public key, which the checks trust


def verdicts(
    tree: Path, manifest: Manifest, work: Path, rpmdbs: KeyDatabases, trust: TrustSources | None = None
) -> dict[str, str]:
    """The failures of every check before a rebuild, trusting the development key the fixture signed with
    (or `trust`)."""
    return tree_failures(tree, manifest, work, rpmdbs, trust or trusting(*IDENTITY))


def test_a_whole_tree_passes_every_check(signed, rpmdbs, tmp_path):
    tree, manifest, public, identity = signed
    assert verdicts(tree, manifest, tmp_path, rpmdbs) == {}
    assert foreign_entries(tree) == []
    assert Manifest.load(tree / MANIFEST_NAME).same_as(manifest)
    facts = public_key_facts(tree / "RPM-GPG-KEY-altai")
    assert facts.development
    assert identity.fingerprint[-16:].upper() in facts.key_ids
    verify_packages(rpmdbs, public, [tree / e.path for e in manifest.entries])
    assert json.loads((tree / SBOM).read_text())["bomFormat"] == "CycloneDX"


def test_the_resolver_refuses_what_it_may_not_use(tmp_path):
    with pytest.raises(SigningError, match="--require-key forbids a development key"):
        KeyResolver(state_dir=tmp_path, gnupghome=tmp_path / "none", require_key=True).resolve(LAYOUT.keys["altai"])
    with pytest.raises(SigningError, match="the layout allows no development key"):
        KeyResolver(state_dir=tmp_path, gnupghome=tmp_path / "none").resolve(LAYOUT.keys["epel"])
    assert Keyring(tmp_path / "absent").secret_fingerprint("anyone") is None
    (tmp_path / "file").write_text("x")
    with pytest.raises(SigningError, match="is not a directory"):
        Keyring(tmp_path / "file").secret_fingerprint("anyone")


def damaged_copy(tree: Path, target: Path) -> Path:
    target.mkdir()
    for top, dirs, files in os.walk(tree):
        rel = Path(top).relative_to(tree)
        for name in dirs:
            (target / rel / name).mkdir()
        for name in files:
            os.link(Path(top) / name, target / rel / name)
    return target


def replaced(path: Path, data: bytes) -> None:
    path.unlink()  # a hard link to the good tree: replaced, never written through
    path.write_bytes(data)


def test_each_kind_of_damage_is_a_fail_naming_the_file(signed, rpmdbs, tmp_path):
    tree, manifest, _public, _identity = signed
    binary = next(e for e in manifest.entries if e.arch != "src")
    srpm = next(e for e in manifest.entries if e.arch == "src")
    statement, stray = statement_name(binary), "metadata/provenance/stray.intoto.jsonl"

    # one tree, one damage per file: each check goes on after a FAIL, and each FAIL names its file
    bad = damaged_copy(tree, tmp_path / "damaged")
    data = bytearray((bad / binary.path).read_bytes())
    data[-10] ^= 0xFF
    replaced(bad / binary.path, bytes(data))
    (bad / "centos6" / "repodata" / "repomd.xml.asc").unlink()
    (bad / srpm.path).unlink()
    sbom = json.loads((bad / SBOM).read_text())
    sbom["components"][0]["hashes"][0]["content"] = "0" * 64
    replaced(bad / SBOM, json.dumps(sbom).encode())
    envelope = json.loads((bad / statement).read_text())
    envelope["payload"] = envelope["payload"][:-8] + "AAAAAAA="
    replaced(bad / statement, json.dumps(envelope).encode())
    (bad / stray).write_text("{}")
    seal(bad, IDENTITY[0])
    found = verdicts(bad, manifest, tmp_path / "w1", rpmdbs)
    assert binary.path in found
    assert any(p.startswith("centos6/repodata") for p in found)
    assert srpm.path in found
    assert "differs from the file's" in found[SBOM]
    assert found[statement].startswith("not a DSSE envelope")
    assert found[stray].startswith("a provenance statement of no binary")

    bad = damaged_copy(tree, tmp_path / "linked")
    (bad / binary.path).unlink()
    os.symlink(tree / binary.path, bad / binary.path)
    replaced(bad / statement, (tree / statement).read_bytes() * 2)
    found = verdicts(bad, manifest, tmp_path / "w2", rpmdbs)
    assert "not a regular file" in found[binary.path]
    assert found[statement] == "holds 2 lines; a statement is one DSSE envelope on one line"

    # the package changed: its statement names other bytes than the published file's (checked against the
    # file itself, not only the manifest's word)
    bad = damaged_copy(tree, tmp_path / "changed")
    replaced(bad / binary.path, bytes(data))
    found = verdicts(bad, manifest, tmp_path / "w5", rpmdbs)
    assert found[statement].startswith("its subject is not the published file and its SHA-256")

    # a manifest that lists none (an older release's, or stripped) is one FAIL, not one per file
    found = verdicts(tree, replace(manifest, attestations=None), tmp_path / "w3", rpmdbs)
    assert found == {MANIFEST_NAME: found[MANIFEST_NAME]}
    assert found[MANIFEST_NAME].startswith("lists no SBOM and no provenance")
    other = replace(manifest, attestations={"sbom": SBOM, "provenance": {}})
    assert "not the release's SBOM and one statement" in verdicts(tree, other, tmp_path / "w4", rpmdbs)[MANIFEST_NAME]


def test_the_statement_is_signed_over_its_pae_and_names_the_file(signed, tmp_path):

    tree, manifest, public, _identity = signed
    binary = next(e for e in manifest.entries if e.arch != "src")
    envelope = json.loads((tree / statement_name(binary)).read_text())
    payload = base64.b64decode(envelope["payload"])
    statement = json.loads(payload)
    assert statement["subject"] == [{"name": Path(binary.path).name, "digest": {"sha256": binary.sha256}}]
    assert statement["predicate"]["runDetails"]["builder"]["id"].endswith("/unknown")  # no build facts here
    kind = envelope["payloadType"].encode()
    (tmp_path / "pae").write_bytes(b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload))
    (tmp_path / "sig").write_bytes(base64.b64decode(envelope["signatures"][0]["sig"]))
    from altai_release.signing.signature_check import detached_verdict

    assert detached_verdict(public, tmp_path / "pae", tmp_path / "sig", tmp_path / "gpgv") is None


def test_an_upstream_import_takes_only_signed_pinned_packages(signed, releases, tmp_path):
    tree, manifest, public, _identity = signed
    upstream = Upstream("up", f"file://{tree}/centos6", "altai", "misc", (Pin("tool", "1.1-1.el6"),))
    (new,) = Importer(upstream, public, tmp_path / "ok", DownloadLimits()).fetch()
    binary = next(e for e in manifest.entries if e.arch != "src")
    assert new.path.read_bytes() == (tree / binary.path).read_bytes()
    assert (new.repository, new.origin, new.signer) == ("misc", "upstream:up", "altai")
    missing = replace(upstream, pins=(Pin("tool", "9-1"),))
    with pytest.raises(UpstreamError, match="no package 'tool = 9-1' at file://"):
        Importer(missing, public, tmp_path / "missing", DownloadLimits()).fetch()
    unsigned = tmp_path / "unsigned-repo"
    unsigned.mkdir()
    shutil.copyfile(releases["1.1"][0] / binary.path, unsigned / Path(binary.path).name)  # as rpmbuild made it
    write_repodata(unsigned, {}, 1)
    with pytest.raises(VerificationError, match="tool-1.1-1.el6.noarch.rpm is not signed by key 'altai'"):
        Importer(replace(upstream, url=f"file://{unsigned}"), public, tmp_path / "unsigned", DownloadLimits()).fetch()
    with pytest.raises(UpstreamError, match="cannot fetch"):
        Importer(replace(upstream, url=f"file://{tmp_path}/none"), public, tmp_path / "n", DownloadLimits()).fetch()


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        (b"[]", "its payload is not an in-toto statement (a JSON list)"),
        (b'{"predicateType": "https://example.org/other"}', "not an SLSA provenance statement"),
    ],
)
def test_a_signed_envelope_of_something_else_is_refused(signed, rpmdbs, tmp_path, payload, said):
    tree, manifest, _public, identity = signed
    binary = next(e for e in manifest.entries if e.arch != "src")
    bad = damaged_copy(tree, tmp_path / "other")

    def sign(pae: bytes) -> bytes:
        return identity.keyring.sign_at(identity.fingerprint, pae, None, int(time.time()))

    replaced(bad / statement_name(binary), envelope_line(payload, identity.fingerprint, sign).encode())
    assert verdicts(bad, manifest, tmp_path / "w", rpmdbs)[statement_name(binary)].startswith(said)


def test_a_statement_asking_for_many_signature_checks_is_refused(signed, rpmdbs, tmp_path):
    tree, manifest, _public, _identity = signed
    statement = statement_name(next(e for e in manifest.entries if e.arch != "src"))
    bad = damaged_copy(tree, tmp_path / "many")
    envelope = json.loads((tree / statement).read_text())
    good = envelope["signatures"][0]
    envelope["signatures"] = [{"keyid": f"k{i}", "sig": good["sig"]} for i in range(500)] + [good]
    replaced(bad / statement, json.dumps(envelope).encode())
    found = verdicts(bad, manifest, tmp_path / "w", rpmdbs)
    assert found[statement] == "holds 501 signatures, more than the 4 a statement may have"


def test_a_package_dated_in_the_future_is_not_signed_in_the_future(signed, tmp_path):
    """BUILDTIME is the package's own word (a spec can skew it): the statement's signature is never made
    later than now."""
    _tree, _manifest, _public, identity = signed
    later = int(time.time()) + 10 * 365 * 86400
    spec = tmp_path / "tool.spec"
    spec.write_text(RPM_SPEC.format(version="9.0", changelog=CHANGES["1.0"]))
    argv = ["rpmbuild", "--quiet", "-bb", "--define", f"_topdir {tmp_path / 'top'}", "--define", "dist .el6"]
    argv += ["--define", "use_source_date_epoch_as_buildtime 1", "--define", "__python3 %{nil}", str(spec)]
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, "SOURCE_DATE_EPOCH": str(later)})
    (built,) = (tmp_path / "top" / "RPMS").rglob("*.rpm")
    target = tmp_path / "tree"
    (target / "centos6").mkdir(parents=True)
    shutil.copyfile(built, target / "centos6" / built.name)
    entry = entry_of(target / "centos6" / built.name, "centos6")
    assert read_identity(target / entry.path).buildtime == later
    assert write_provenance(target, LAYOUT, Manifest("altai", "1", [entry]), identity) == 1
    envelope = json.loads((target / statement_name(entry)).read_text())
    (tmp_path / "sig").write_bytes(base64.b64decode(envelope["signatures"][0]["sig"]))
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    packets = subprocess.run(
        ["gpg", "--homedir", str(home), "--list-packets", str(tmp_path / "sig")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    created = int(re.search(r"created (\d+)", packets).group(1))  # type: ignore[union-attr]
    assert created <= time.time()
