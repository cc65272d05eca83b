"""Signature verification refuses packages that are unsigned or signed by another key (real gpg, rpmsign,
rpmkeys), whatever rpmkeys' exit status says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from altai_release.errors import SigningError
from altai_release.layout import SigningKey
from altai_release.signing import KeyResolver, sign_packages
from altai_release.verify import KeyDatabases, verify_packages


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
    assert ours.development and ours.fingerprint != theirs.fingerprint

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
