"""Signature verification refuses packages that are unsigned or signed by another key (real gpg, rpmsign,
rpmkeys), whatever rpmkeys' exit status says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from altai_release.core.errors import SigningError
from altai_release.layout import SigningKey
from altai_release.signing.assignment import KeyResolver, sign_packages
from altai_release.signing.signature_check import KeyDatabases, verify_packages
from altai_testlib import ROOT


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("pkg")
    spec = top / "t.spec"
    spec.write_text(
        "Name: t\nVersion: 1\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n%description\nt\n%files\n"
    )
    subprocess.run(["rpmbuild", "--quiet", "-bb", "--define", f"_topdir {top}", str(spec)], check=True)
    return next((top / "RPMS").rglob("*.rpm"))


def _identity(state: Path, empty_home: Path):
    resolver = KeyResolver(state, gnupghome=empty_home)
    return resolver.resolve(SigningKey("team", "Nobody Has This Key", development=True))


def test_unsigned_and_foreign_signatures_are_refused(package, tmp_path):
    (tmp_path / "home").mkdir(mode=0o700)
    ours = _identity(tmp_path / "state-a", tmp_path / "home")
    theirs = _identity(tmp_path / "state-b", tmp_path / "home")
    assert ours.development
    assert ours.fingerprint != theirs.fingerprint

    dbs = KeyDatabases(tmp_path / "rpmdb")
    ours_public = ours.keyring.export_public(ours.fingerprint)
    unsigned = tmp_path / "unsigned.rpm"
    shutil.copy(package, unsigned)
    with pytest.raises(SigningError, match="unsigned.rpm: signature check failed"):
        verify_packages(dbs, ours_public, [unsigned])

    foreign = tmp_path / "foreign.rpm"
    shutil.copy(package, foreign)
    sign_packages(theirs, [foreign])
    with pytest.raises(SigningError, match="foreign.rpm: signature check failed"):
        verify_packages(dbs, ours_public, [foreign])
    verify_packages(dbs, theirs.keyring.export_public(theirs.fingerprint), [foreign])  # the right key passes

    # one rpmkeys run checks a batch: a bad package among good ones is still named
    good = tmp_path / "good.rpm"
    shutil.copy(package, good)
    sign_packages(ours, [good])
    verify_packages(dbs, ours_public, [good])
    with pytest.raises(SigningError, match="foreign.rpm: signature check failed"):
        verify_packages(dbs, ours_public, [good, foreign, good])
    # the throwaway rpmdbs live under the run's directory, one per key, not in /tmp
    assert len([d for d in (tmp_path / "rpmdb").iterdir() if (d / "db").is_dir()]) == 2


def test_development_key_is_generated_once(tmp_path):
    (tmp_path / "home").mkdir(mode=0o700)
    first = _identity(tmp_path / "state", tmp_path / "home")
    second = _identity(tmp_path / "state", tmp_path / "home")
    assert first.fingerprint == second.fingerprint


def test_a_release_of_a_real_key_is_never_moved_onto_the_development_key(release, state_dir, tmp_path):
    """After a release signed with the real key, a run whose GNUPGHOME lacks it re-signed every kept package
    with the DEVELOPMENT key, exit 0, a note only (nothing with -q). It is refused: exit 4, naming the key."""
    from altai_testlib import assert_one_line_error, build, tree
    from rpmtools import make_key

    real = tmp_path / "release-gnupg"
    make_key(real, "Altai Test Release Key")
    assert build(release, state_dir, real, "libaltai").returncode == 0
    before = tree(release["out"])
    empty = tmp_path / "empty-gnupg"
    empty.mkdir(mode=0o700)
    for quiet in ([], ["-q"]):
        run = build(release, state_dir, empty, "altai-app", *quiet)
        assert_one_line_error(
            run,
            "is signed for key 'altai' by",
            "not a development key",
            f"GNUPGHOME={empty} has no secret key",
            "give the run that key",
        )
        assert run.returncode == 4
        assert tree(release["out"]) == before
    # the development key is said even with -q
    other = {**release, "out": tmp_path / "dev-out"}
    run = build(other, state_dir, empty, "libaltai", "-q")
    assert run.returncode == 0
    assert "warning: no secret key 'Altai Test Release Key'" in run.stderr


def test_two_first_runs_at_once_make_one_development_key(tmp_path):
    """The loser of the race adopts the winner's key: every later run then signs with that one key."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'tools')!r}); from pathlib import Path; "
        "from altai_release.signing.assignment import KeyResolver; from unitlib import LAYOUT; "
        "r = KeyResolver(state_dir=Path(sys.argv[1]), gnupghome=Path(sys.argv[1]) / 'none'); "
        "i = r.resolve(LAYOUT.keys['altai']); print(i.fingerprint); i.keyring.stop_agent()"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    argv = [sys.executable, "-c", code, str(tmp_path / "state")]
    runs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)
    ]
    found = {run.communicate(timeout=120)[0].strip() for run in runs}
    assert len(found) == 1
    assert len(found.pop()) == 40
    listing = subprocess.run(
        ["gpg", "--homedir", str(tmp_path / "state" / "dev-gnupg"), "--with-colons", "--list-secret-keys"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listing.count("\nsec:") + listing.startswith("sec:") == 1
