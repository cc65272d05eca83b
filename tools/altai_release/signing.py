"""Signing keys (gpg), package signatures (rpmsign) and their verification (rpmkeys, temporary rpmdb).

The passphrase of a key, if it has one, is read by gpg from a file (`--passphrase-file`): it never
appears on a command line or in a log."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import runner
from .errors import SigningError
from .layout import SigningKey

GPG = "/usr/bin/gpg"
DEV_KEY_UID = "Altai DEVELOPMENT key - NOT FOR PRODUCTION <altai-dev@localhost.invalid>"


def _run(
    argv: Sequence[str], what: str, env: dict[str, str] | None = None, input_bytes: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return runner.run(argv, SigningError, what, env=env or {}, input_bytes=input_bytes)


@dataclass(frozen=True)
class Keyring:
    """A gpg home directory."""

    home: Path

    @property
    def env(self) -> dict[str, str]:
        return {"GNUPGHOME": str(self.home)}

    def gpg(self, *args: str, what: str, input_bytes: bytes | None = None) -> bytes:
        argv = [GPG, "--batch", "--no-tty", "--homedir", str(self.home), *args]
        return _run(argv, what, self.env, input_bytes).stdout

    def secret_fingerprint(self, key_id: str) -> str | None:
        """The fingerprint of the signing-capable secret key matching a user id or fingerprint; None when
        there is none. A matching key that cannot sign (expired, revoked, disabled, no signing capability)
        is an error that says why: it is never taken as absent."""
        if not self.home.is_dir():
            if self.home.exists():
                raise SigningError(f"GNUPGHOME={self.home} is not a directory")
            return None
        argv = [
            GPG,
            "--batch",
            "--no-tty",
            "--homedir",
            str(self.home),
            "--with-colons",
            "--list-secret-keys",
            "--",
            key_id,
        ]
        proc = runner.run(argv, SigningError, f"gpg --list-secret-keys {key_id}", env=self.env, check=False)
        if proc.returncode != 0:
            return None
        found: list[str] = []
        unusable: list[str] = []
        reason: str | None = None
        for line in runner.text(proc.stdout).splitlines():
            fields = line.split(":")
            if fields[0] == "sec":
                reason = _why_it_cannot_sign(fields)
            elif fields[0] == "fpr" and reason is not None:
                (unusable if reason else found).append(f"{fields[9]}{reason}")
                reason = None
        if len(found) > 1:
            raise SigningError(
                f"key id {key_id!r} matches several secret keys in {self.home}: "
                f"{', '.join(found)}; name one by fingerprint"
            )
        if not found and unusable:
            raise SigningError(f"the secret key {key_id!r} in {self.home} cannot sign: {'; '.join(unusable)}")
        return found[0] if found else None

    def keygrips(self, fingerprint: str) -> list[str]:
        """The keygrips of a secret key and its subkeys: what gpg-agent caches a passphrase under."""
        argv = [GPG, "--batch", "--no-tty", "--homedir", str(self.home), "--with-colons", "--with-keygrip",
                "--list-secret-keys", "--", fingerprint]  # fmt: skip
        proc = runner.run(argv, SigningError, f"gpg --list-secret-keys {fingerprint}", env=self.env, check=False)
        return [f.split(":")[9] for f in runner.text(proc.stdout).splitlines() if f.startswith("grp:")]

    def forget_passphrases(self, fingerprint: str) -> None:
        """Clear what gpg-agent keeps of the key's passphrase, so that only the passphrase a run is given can
        sign in it (a cached one from an earlier run or session must not). Starts no agent, and raises nothing:
        it also runs while a failed run unwinds, whose own error must not be masked."""
        connect = shutil.which("gpg-connect-agent")
        if connect is None or not self.home.is_dir():
            return
        commands = [f"CLEAR_PASSPHRASE --mode=normal {grip}" for grip in self.keygrips(fingerprint)]
        if commands:
            runner.run([connect, "--homedir", str(self.home), "--no-autostart", *commands, "/bye"], SigningError,
                       "gpg-connect-agent", env=self.env, check=False)  # fmt: skip

    def stop_agent(self) -> None:
        """Stop the gpg-agent that gpg started for this home (a run leaves no agent of its own behind)."""
        gpgconf = shutil.which("gpgconf")
        if gpgconf and self.home.is_dir():
            runner.run([gpgconf, "--homedir", str(self.home), "--kill", "gpg-agent"], SigningError, "gpgconf",
                       check=False)  # fmt: skip

    def export_public(self, fingerprint: str) -> bytes:
        data = self.gpg("--armor", "--export", "--", fingerprint, what=f"gpg --export {fingerprint}")
        if not data.strip():
            raise SigningError(f"gpg exported no public key for {fingerprint} from {self.home}")
        return data

    def generate_development_key(self) -> str:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.home, 0o700)
        # RSA: the signature type that EL6's rpm can verify. No passphrase: a development key by design.
        self.gpg(
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            DEV_KEY_UID,
            "rsa2048",
            "sign",
            "never",
            what="generating the development key",
        )
        fpr = self.secret_fingerprint(DEV_KEY_UID)
        if fpr is None:
            raise SigningError(f"the development key was generated but is not in {self.home}")
        return fpr


def _why_it_cannot_sign(sec: list[str]) -> str:
    """'' when a `sec` line of gpg's colon listing is a key that signs, else why not (after a space)."""
    validity, expires, capabilities = sec[1], sec[6], sec[11]
    if validity == "r":
        return " (revoked)"
    if validity == "e":
        when = time.strftime("%Y-%m-%d", time.gmtime(int(expires))) if expires.isdigit() else ""
        return f" (expired {when})" if when else " (expired)"
    if validity in ("d", "i"):
        return " (disabled)" if validity == "d" else " (invalid)"
    if "S" not in capabilities:  # upper case: what the key with its subkeys can do now
        return f" (no key or subkey of it may sign; its capabilities: {capabilities or 'none'})"
    return ""


def default_gnupghome() -> Path:
    return Path(os.environ.get("GNUPGHOME") or Path.home() / ".gnupg")


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
        fpr = self.dev.secret_fingerprint(DEV_KEY_UID)
        if fpr is None:
            fpr = self.dev.generate_development_key()
            self.notes.append(
                f"generated a DEVELOPMENT signing key {fpr} in {self.dev.home} (no passphrase; not for production)"
            )
        self.notes.append(
            f"no secret key {wanted!r} in GNUPGHOME={self.user.home}: signing "
            f"{key.name!r} packages with the DEVELOPMENT key {fpr[-16:]}"
        )
        self.dev_used = True
        return SigningIdentity(key.name, fpr, self.dev, True)

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
        _run(argv, f"rpmsign failed for {names}", identity.keyring.env)
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
