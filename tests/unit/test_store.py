"""The release store on a temporary directory: claiming OUT (what it refuses, what it adopts), the atomic
switch of OUT, pruning (never an adopted tree), the lock, and manifest.json's validation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from altai_release.core.errors import InputError
from altai_release.release.publish.claim import foreign_entries
from altai_release.release.publish.store import (
    ADOPTED,
    KEEP_RELEASES,
    STORE_MARKER,
    ReleaseStore,
    link_or_copy,
)
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest
from altai_testlib import manifest_entry as entry


def write_tree(tree: Path, *names: str, release_id: str | None = None) -> Manifest:
    manifest = Manifest("altai", "1", [entry(n, "1") for n in names], id=release_id)
    tree.mkdir(parents=True, exist_ok=True)
    (tree / MANIFEST_NAME).write_text(manifest.to_json())
    for e in manifest.entries:
        (tree / e.path).parent.mkdir(parents=True, exist_ok=True)
        (tree / e.path).write_bytes(e.name.encode())
    (tree / "centos6" / "repodata").mkdir(parents=True, exist_ok=True)
    (tree / "centos6" / "repodata" / "repomd.xml").write_text("<repomd/>")
    (tree / "RPM-GPG-KEY-altai").write_text("key")
    return manifest


def publish(store: ReleaseStore, *names: str, when: int | None = None) -> Path:
    made = store.new_release_dir()
    write_tree(made, *names, release_id=made.name)  # a run's manifest names its release directory
    if when is not None:
        os.utime(made, (when, when))  # the order the runs made them in (all in one second here)
    store.publish(made)
    return made


def test_publishing_switches_out_atomically_and_prunes(tmp_path):
    store = ReleaseStore(tmp_path / "out")
    assert store.current() is None
    assert store.current_manifest() is None
    store.claim()
    assert (store.store / STORE_MARKER).is_file()
    made = [publish(store, f"p{i}", when=100 + i) for i in range(KEEP_RELEASES + 2)]
    half_made = store.new_release_dir()  # a killed run's
    os.utime(half_made, (1, 1))
    publish(store, "last", when=200)
    assert store.out.is_symlink()
    current = store.current_manifest()
    assert current is not None
    assert current.entries[0].name == "last"
    kept = sorted(p.name for p in store.releases.iterdir())
    assert len(kept) == KEEP_RELEASES
    assert not half_made.exists()
    assert made[0].name not in kept


def test_a_tree_of_ours_is_adopted_and_never_pruned(tmp_path):
    out = tmp_path / "out"
    write_tree(out, "old")
    store = ReleaseStore(out)
    assert foreign_entries(out) == []
    store.claim()
    publish(store, "new")
    adopted = [p for p in store.releases.iterdir() if p.name.startswith(ADOPTED)]
    assert len(adopted) == 1
    assert (adopted[0] / "centos6" / "old-1-1.noarch.rpm").read_bytes() == b"old"
    for i in range(KEEP_RELEASES + 1):
        publish(store, f"n{i}")
    assert adopted[0].is_dir()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("notes.txt", "notes.txt"),
        ("centos6/stray.rpm", "centos6/stray.rpm"),
    ],
)
def test_a_tree_with_what_we_did_not_write_is_refused(tmp_path, extra, named):
    out = tmp_path / "out"
    write_tree(out, "a")
    (out / extra).write_text("theirs")
    assert foreign_entries(out) == [named]
    with pytest.raises(InputError, match="is not a release tree of this tool"):
        ReleaseStore(out).claim()
    assert (out / extra).read_text() == "theirs"


def test_links_and_unreadable_manifests_are_foreign(tmp_path):
    out = tmp_path / "out"
    write_tree(out, "a")
    os.symlink("/etc", out / "logs")
    assert foreign_entries(out) == ["logs"]
    (out / "logs").unlink()
    (out / MANIFEST_NAME).write_text("{")
    assert foreign_entries(out) == [f"{MANIFEST_NAME} (unreadable)"]
    assert foreign_entries(tmp_path / "nothing") == [MANIFEST_NAME]


def test_claim_refuses_what_is_not_ours(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="the current directory"):
        ReleaseStore(tmp_path).claim()
    with pytest.raises(InputError, match="a directory that holds the current directory"):
        ReleaseStore(tmp_path.parent).claim()
    with pytest.raises(InputError, match="expected a directory path with a name"):
        ReleaseStore(Path("/"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="exists and is not a directory"):
        ReleaseStore(tmp_path / "file")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / "linked")
    with pytest.raises(InputError, match="not to a release of"):
        ReleaseStore(tmp_path / "linked").claim()
    (tmp_path / "busy.store").mkdir()
    (tmp_path / "busy.store" / "photos").mkdir()
    with pytest.raises(InputError, match="is not empty \\(photos\\) and has no .altai-release-store"):
        ReleaseStore(tmp_path / "busy").claim()
    (tmp_path / "named.store" / "releases" / "mine").mkdir(parents=True)  # named as ours, but not marked
    with pytest.raises(InputError, match="is not empty \\(releases\\) and has no .altai-release-store"):
        ReleaseStore(tmp_path / "named").claim()
    assert (tmp_path / "named.store" / "releases" / "mine").is_dir()
    (tmp_path / "plain.store").write_text("x")
    with pytest.raises(InputError, match="is not a directory this tool made"):
        ReleaseStore(tmp_path / "plain").claim()


def test_a_failed_first_run_takes_away_the_store_it_made(tmp_path):
    store = ReleaseStore(tmp_path / "out")

    def failed_run(leave_log: bool) -> None:
        with store.lock():
            store.staging()
            if leave_log:
                (store.logdir("pkg") / "build.log").write_text("why it failed")
            raise RuntimeError("the build failed")

    with pytest.raises(RuntimeError):
        failed_run(leave_log=False)
    assert not store.store.exists()
    with pytest.raises(RuntimeError):
        failed_run(leave_log=True)
    assert (store.logs / "pkg" / "build.log").is_file()  # the error names it: kept


def test_staging_sweeps_what_killed_runs_left(tmp_path):
    store = ReleaseStore(tmp_path / "out")
    store.claim()
    first = store.staging()
    (first / "half").write_text("x")
    second = store.staging()
    assert not first.exists()
    assert second.is_dir()


def test_link_or_copy_shares_the_inode(tmp_path):
    source = tmp_path / "a"
    source.write_text("x")
    link_or_copy(source, tmp_path / "deep" / "b")
    assert (tmp_path / "deep" / "b").stat().st_ino == source.stat().st_ino


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d.pop("release"), "release: expected a non-empty string"),
        (lambda d: d.update(id=""), "id: expected null or a non-empty string"),
        (lambda d: d.update(packages={}), "packages: expected a list"),
        (lambda d: d["packages"].append(3), r"packages\[1\]: expected an object"),
        (lambda d: d["packages"][0].update(extra=1), r"packages\[0\]: unknown keys extra"),
        (lambda d: d["packages"][0].pop("sha256"), r"packages\[0\]: missing keys sha256"),
        (lambda d: d["packages"][0].update(path="../x.rpm"), "a relative path inside the release"),
        (lambda d: d["packages"][0].update(origin="a/b"), "a package or upstream name"),
        (lambda d: d["packages"][0].update(epoch=True), "null or an integer >= 0"),
        (lambda d: d["packages"][0].update(signer_keyid=5), "signer_keyid: expected a string"),
        (lambda d: d["packages"][0].update(downgrade_reason=5), "null or a string"),
        (lambda d: d["packages"][0].update(source={"url": 5}), "null or an object of strings"),
        (lambda d: d["packages"][0].update(name=""), "name: expected a non-empty string"),
        # what the SBOM and the statements are made from: a hand-edited kind without its facts is refused
        (lambda d: d["packages"][0].update(source={"kind": "git", "url": "u"}), r"source: expected a kind and its"),
        (lambda d: d["packages"][0].update(source={"kind": "ftp"}), r"source: expected a kind and its facts"),
        (lambda d: d["packages"][0].update(build={"builder": "mock"}), r"build: expected a kind and its facts"),
        (lambda d: d.update(attestations={"sbom": "../../etc/passwd", "provenance": {}}), "attestations: expected"),
        (lambda d: d.update(attestations={"sbom": "m.json", "provenance": {"a": 5}}), "attestations: expected"),
    ],
)
def test_a_manifest_with_a_wrong_field_is_one_error_naming_it(tmp_path, change, said):
    data = json.loads(Manifest("altai", "1", [entry("a", "1")]).to_json())
    change(data)
    with pytest.raises(InputError, match=said):
        Manifest.from_bytes(json.dumps(data).encode(), tmp_path / MANIFEST_NAME)
    good = Manifest("altai", "1", [entry("a", "1")], id="x", published="2026-01-01T00:00:00Z")
    again = Manifest.from_bytes(good.to_json().encode(), tmp_path / MANIFEST_NAME)
    assert again.same_as(good)
    assert again.id == "x"


def test_pruning_and_sweeping_remove_only_what_the_tools_names_and_markers_identify(tmp_path):
    """A store of ours where somebody put their own directories: releases/ and staging/ keep them."""
    store = ReleaseStore(tmp_path / "out")
    store.claim()
    publish(store, "first")
    mine = [store.releases / "mine", store.releases / "20200101T000000-notours", store.store / "staging" / "photos"]
    unmarked = store.store / "staging" / "run-byhand"
    for path in [*mine, unmarked]:
        path.mkdir(parents=True)
        (path / "data").write_text("somebody's")
    lookalike = store.releases / "20200101T000000-abcdefgh"  # named as ours, but its manifest names another
    write_tree(lookalike, "x", release_id="20200101T000000-zzzzzzzz")
    killed = store.staging()  # a run's: marked
    assert (killed / ".altai-run").is_file()
    store.staging()
    assert not killed.exists()
    for i in range(KEEP_RELEASES + 1):
        publish(store, f"n{i}")
    assert all((p / "data").read_text() == "somebody's" for p in [*mine, unmarked])
    assert (lookalike / MANIFEST_NAME).is_file()
