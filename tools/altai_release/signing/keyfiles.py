"""What public key files hold, read with gpg in throwaway homes (no keyring of the user's is touched): the
primary keys with their subkeys and user ids, and the export of exactly the keys one asks for."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from altai_release.core import runner
from altai_release.core.errors import SigningError

GPG = "/usr/bin/gpg"
DEV_KEY_UID = "Altai DEVELOPMENT key - NOT FOR PRODUCTION <altai-dev@localhost.invalid>"


def _gpg(home: str, *args: str, what: str, input_bytes: bytes | None = None, check: bool = True) -> bytes:
    argv = [GPG, "--batch", "--no-tty", "--homedir", home, *args]
    return runner.run(argv, SigningError, what, env={"GNUPGHOME": home}, input_bytes=input_bytes, check=check).stdout


@dataclass(frozen=True)
class KeyBlock:
    """One primary key of a key file as gpg lists it: its fingerprint, its subkeys' and its user ids."""

    fingerprint: str  # 40 hex digits, upper case
    subkeys: tuple[str, ...]
    user_ids: tuple[str, ...]

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The 16 hex digits of the key and each subkey: what a package's signature names."""
        return tuple(f[-16:] for f in (self.fingerprint, *self.subkeys))


def key_blocks(colons: str) -> list[KeyBlock]:
    """The primary keys of a gpg colon listing (`--show-keys`, `--list-keys`)."""
    blocks: list[KeyBlock] = []
    primary: list[str] | None = None  # fingerprint, then subkeys
    uids: list[str] = []
    last = ""
    for line in colons.splitlines():
        fields = line.split(":")
        kind = fields[0]
        if kind == "pub":
            if primary:
                blocks.append(KeyBlock(primary[0], tuple(primary[1:]), tuple(uids)))
            primary, uids = [], []
        elif kind == "fpr" and primary is not None and len(fields) > 9 and last in ("pub", "sub"):
            primary.append(fields[9].upper())
        elif kind == "uid" and primary is not None and len(fields) > 9:
            uids.append(fields[9].replace("\\x3a", ":"))
        last = kind
    if primary:
        blocks.append(KeyBlock(primary[0], tuple(primary[1:]), tuple(uids)))
    return blocks


def show_keys(data: bytes, work: Path) -> list[KeyBlock]:
    """The keys `data` (a public key file's bytes) holds, read with `gpg --show-keys` in a throwaway home
    under `work` (no keyring of the user's is touched); none when gpg cannot read it."""
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="showkeys-", dir=work) as home:
        listing = _gpg(home, "--with-colons", "--show-keys", what="gpg --show-keys", input_bytes=data, check=False)
    return key_blocks(runner.text(listing))


def only_keys(data: bytes, fingerprints: Sequence[str], work: Path) -> bytes:
    """The armored export of exactly the primary keys `fingerprints` (with their subkeys) of the key material
    `data`: whatever else `data` holds is left out (b"" when it holds none of them)."""
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="onlykeys-", dir=work) as home:
        _gpg(home, "--import", what="gpg --import", input_bytes=data, check=False)
        found = {b.fingerprint for b in key_blocks(runner.text(_gpg(home, "--with-colons", "--list-keys", what="gpg")))}
        wanted = [f.upper() for f in fingerprints if f.upper() in found]
        return _gpg(home, "--armor", "--export", "--", *wanted, what="gpg --export") if wanted else b""


@dataclass(frozen=True)
class PublicKeyFacts:
    """What a published public key file holds: its keys' ids and user ids."""

    key_ids: tuple[str, ...]  # the 16 hex digits of each key and subkey, upper case
    user_ids: tuple[str, ...]
    created: int = 0  # the newest creation time of its primary keys (seconds since the epoch)

    @property
    def development(self) -> bool:
        return DEV_KEY_UID in self.user_ids


def public_key_facts(path: Path) -> PublicKeyFacts:
    """Read with `gpg --show-keys` in a throwaway home (no keyring of the user's is touched)."""
    with tempfile.TemporaryDirectory(prefix="altai-showkeys-") as home:
        argv = [GPG, "--batch", "--no-tty", "--homedir", home, "--with-colons", "--show-keys", "--", str(path)]
        proc = runner.run(argv, SigningError, f"gpg --show-keys {path}", env={"GNUPGHOME": home}, check=False)
    ids, uids, created = [], [], 0
    for line in runner.text(proc.stdout).splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sub") and len(fields) > 4:
            ids.append(fields[4].upper())
            if fields[0] == "pub" and len(fields) > 5 and fields[5].isdigit():
                created = max(created, int(fields[5]))
        elif fields[0] == "uid" and len(fields) > 9:
            uids.append(fields[9].replace("\\x3a", ":"))
    return PublicKeyFacts(tuple(ids), tuple(uids), created)
