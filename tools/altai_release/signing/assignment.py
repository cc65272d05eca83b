"""Which key signs each repository's packages (the user's, else the development key) and package signatures
(rpmsign). The passphrase of a key, if it has one, is read by gpg from a file (`--passphrase-file`): it never
appears on a command line or in a log."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from altai_release.core.errors import SigningError
from altai_release.core.recordlock import exclusive_lock
from altai_release.layout import SigningKey
from altai_release.rpm.manifest import Manifest
from altai_release.signing.keyring import DEV_KEY_UID, GPG, Keyring, default_gnupghome, run_gpg

DEV_KEY_WAIT = 120.0  # seconds another run may take to make the development key (gpg's key generation)


@dataclass(frozen=True)
class SigningIdentity:
    """The key that signs one repository's packages."""

    key_name: str  # the layout's name of the key: RPM-GPG-KEY-<key_name>
    fingerprint: str
    keyring: Keyring
    development: bool
    passphrase_file: Path | None = None

    @property
    def description(self) -> str:
        kind = "DEVELOPMENT key" if self.development else "key"
        return f"{self.key_name} ({kind} {self.fingerprint[-16:]})"


class KeyResolver:
    """Finds the secret key for each layout key, once per run; generates the development key at most once
    per state directory."""

    def __init__(
        self,
        state_dir: Path,
        gnupghome: Path | None = None,
        override: str | None = None,
        require_key: bool = False,
        passphrase_file: Path | None = None,
    ) -> None:
        self.user = Keyring(gnupghome or default_gnupghome())
        self.dev = Keyring(state_dir / "dev-gnupg")
        self.override = override
        self.require_key = require_key
        self.passphrase_file = passphrase_file
        self.notes: list[str] = []
        self.dev_used = False  # the development key's home is ours: its agent is stopped after the run
        self._cache: dict[str, SigningIdentity] = {}
        self._lock = threading.Lock()

    def resolve(self, key: SigningKey) -> SigningIdentity:
        with self._lock:
            if key.name not in self._cache:
                self._cache[key.name] = self._resolve(key)
            return self._cache[key.name]

    def _resolve(self, key: SigningKey) -> SigningIdentity:
        wanted = self.override or key.id
        fpr = self.user.secret_fingerprint(wanted)
        if fpr:
            return SigningIdentity(key.name, fpr, self.user, False, self.passphrase_file)
        if self.override or self.require_key or not key.development:
            why = (
                "--require-key forbids a development key"
                if self.require_key
                else ("--sign-key was given" if self.override else "the layout allows no development key")
            )
            raise SigningError(f"no secret key {wanted!r} (key {key.name!r}) in GNUPGHOME={self.user.home}; {why}")
        fpr = self._development_key()
        self.notes.append(
            f"no secret key {wanted!r} in GNUPGHOME={self.user.home}: signing "
            f"{key.name!r} packages with the DEVELOPMENT key {fpr[-16:]}"
        )
        self.dev_used = True
        return SigningIdentity(key.name, fpr, self.dev, True)

    def _development_key(self) -> str:
        """The development key of the state directory, made on first use under a lock: two first runs at once
        make one key (the second adopts the first's), never two."""
        fpr = self.dev.secret_fingerprint(DEV_KEY_UID)
        if fpr is not None:
            return fpr
        self.dev.home.parent.mkdir(parents=True, exist_ok=True)
        lock = self.dev.home.with_name(f".{self.dev.home.name}.lock")
        with exclusive_lock(lock, DEV_KEY_WAIT, f"making the development key in {self.dev.home}"):
            fpr = self.dev.secret_fingerprint(DEV_KEY_UID)
            if fpr is None:
                fpr = self.dev.generate_development_key()
                self.notes.append(
                    f"generated a DEVELOPMENT signing key {fpr} in {self.dev.home} (no passphrase; not for production)"
                )
        return fpr

    def refuse_development_over_real(self, current: Manifest | None, current_dir: Path | None, out: Path) -> None:
        """A release signed with a real key is never moved onto the development key: a run whose GNUPGHOME
        lacks that key would re-sign every kept package with the development key. Raises SigningError
        (exit 4) naming the key and how to go on."""
        from altai_release.signing.keyfiles import public_key_facts

        if current is None or current_dir is None:
            return
        with self._lock:
            development = [i for i in self._cache.values() if i.development]
        for identity in development:
            published = {e.signer_keyid.upper() for e in current.entries if e.signer == identity.key_name}
            published -= {identity.fingerprint[-16:].upper(), ""}
            if not published:
                continue
            key_file = current_dir / f"RPM-GPG-KEY-{identity.key_name}"
            facts = public_key_facts(key_file) if key_file.is_file() and not key_file.is_symlink() else None
            if facts is not None and facts.development and published <= set(facts.key_ids):
                continue  # an earlier development key: the new one takes over, as a rotation
            raise SigningError(
                f"{out} is signed for key {identity.key_name!r} by {sorted(published)[0]}, not a development key, "
                f"and GNUPGHOME={self.user.home} has no secret key for it: re-signing the release with the "
                "DEVELOPMENT key is refused; give the run that key (GNUPGHOME, --sign-key), or use another --out"
            )

    def forget_passphrases(self) -> None:
        """Before and after a run: the agent of the user's keyring keeps no passphrase of the keys it signs
        with (the development key has none)."""
        with self._lock:
            identities = [i for i in self._cache.values() if not i.development]
        for identity in identities:
            identity.keyring.forget_passphrases(identity.fingerprint)


def rpmsign_path() -> str:
    found = shutil.which("rpmsign")
    if not found:
        raise SigningError("rpmsign is not installed; run scripts/setup.sh")
    return found


def sign_packages(identity: SigningIdentity, packages: Sequence[Path]) -> None:
    """Add an RSA/SHA256 header signature to each package, in place."""
    extra = "--batch --pinentry-mode loopback"
    if identity.passphrase_file is not None:
        extra += f" --passphrase-file {identity.passphrase_file}"
    argv = [
        rpmsign_path(),
        "--addsign",
        "--define",
        f"__gpg {GPG}",  # Debian's rpm points at gpg2, which Debian does not ship
        "--define",
        f"_gpg_path {identity.keyring.home}",
        "--define",
        f"_gpg_name {identity.fingerprint}",
        "--define",
        "_gpg_digest_algo sha256",
        "--define",
        f"_gpg_sign_cmd_extra_args {extra}",
        "--",
        *[str(p) for p in packages],
    ]
    names = ", ".join(p.name for p in packages)
    try:  # parallel builds sign at the same time: gpg-agent serves them all
        run_gpg(argv, f"rpmsign failed for {names}", identity.keyring.env)
    except SigningError as exc:
        if "gpg exec failed" not in exc.stderr:
            raise
        # rpmsign hides gpg's own words; the usual cause is the passphrase
        hint = (
            "wrong passphrase in --passphrase-file"
            if identity.passphrase_file
            else ("the key may need a passphrase: --passphrase-file")
        )
        raise SigningError(f"gpg could not sign {names} with key {identity.fingerprint} ({hint})", argv, "") from exc
