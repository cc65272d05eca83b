"""Signature verification: each package checked against exactly one public key, in a throwaway rpmdb that
holds that key only (`rpmkeys --checksig`), whatever rpmkeys' exit status says."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from altai_release.core import runner
from altai_release.core.errors import SigningError
from altai_release.core.hashing import bytes_sha256


class KeyDatabases:
    """One throwaway rpmdb per public key for the whole run, under the run's own directory (a killed run's
    are swept with its staging area): importing a key costs an rpmdb write (with fsync), and parallel
    builds checking their packages would otherwise queue on the disk for it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._dirs: dict[str, Path] = {}

    def dbpath(self, public_key: bytes) -> Path:
        digest = bytes_sha256(public_key)
        with self._lock:
            if digest not in self._dirs:
                home = self.root / digest[:16]
                (home / "db").mkdir(parents=True, exist_ok=True)
                key_file = home / "key.asc"
                key_file.write_bytes(public_key)
                runner.run(
                    ["rpmkeys", "--dbpath", str(home / "db"), "--import", str(key_file)],
                    SigningError,
                    "rpmkeys --import failed",
                )
                self._dirs[digest] = home / "db"
            return self._dirs[digest]


def signature_verdicts(databases: KeyDatabases, public_key: bytes, packages: Sequence[Path]) -> dict[str, str]:
    """rpmkeys' verdict on each package (by its path) against exactly this public key, in a throwaway rpmdb
    that holds that key only: one rpmkeys process for the whole batch."""
    dbpath = databases.dbpath(public_key)
    argv = ["rpmkeys", "--dbpath", str(dbpath), "--checksig", "--", *[str(p) for p in packages]]
    proc = runner.run(argv, SigningError, "rpmkeys --checksig", check=False)
    verdicts = {}
    for line in runner.text(proc.stdout).splitlines():
        path, sep, verdict = line.rpartition(":")
        if sep:
            verdicts[path.strip()] = verdict.strip()
    return verdicts


def verify_packages(databases: KeyDatabases, public_key: bytes, packages: Sequence[Path]) -> None:
    """Check each package's digests and signature against exactly this public key."""
    if not packages:
        return
    verdicts = signature_verdicts(databases, public_key, packages)
    for package in packages:
        verdict = verdicts.get(str(package), "")
        if "signatures OK" not in verdict:
            raise SigningError(f"{package.name}: signature check failed ({verdict or 'no verdict from rpmkeys'})")


def detached_verdict(public_key: bytes, data: Path, signature: Path, work: Path) -> str | None:
    """None when `signature` (armored, detached) is a good signature of `data` by `public_key`; else what is
    wrong, from gpgv (which trusts exactly the keyring it is given)."""
    work.mkdir(parents=True, exist_ok=True)
    keyring = work / "keyring.gpg"
    if not keyring.exists():
        home = work / "gnupg"
        home.mkdir(mode=0o700, exist_ok=True)
        argv = ["gpg", "--batch", "--homedir", str(home), "--dearmor", "--output", str(keyring)]
        proc = runner.run(argv, SigningError, "gpg --dearmor", input_bytes=public_key, check=False)
        if proc.returncode != 0 or not keyring.exists():
            return f"the key cannot be read ({runner.reason(runner.text(proc.stderr), ('gpg:',))})"
    argv = ["gpgv", "--keyring", str(keyring), "--", str(signature), str(data)]
    proc = runner.run(argv, SigningError, "gpgv", check=False)
    if proc.returncode == 0:
        return None
    return runner.reason(runner.text(proc.stderr), ("gpgv:",), last=True) or f"gpgv exit status {proc.returncode}"
