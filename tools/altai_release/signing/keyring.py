"""gpg keyrings: finding a secret key that can sign, its keygrips and agent, finding and exporting public
keys, generating the development key."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from altai_release.core import runner
from altai_release.core.errors import SigningError
from altai_release.signing.keyfiles import DEV_KEY_UID, GPG, key_blocks

__all__ = ["DEV_KEY_UID", "GPG", "Keyring", "default_gnupghome", "run_gpg"]


def run_gpg(
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
        return run_gpg(argv, what, self.env, input_bytes).stdout

    def secret_fingerprint(self, key_id: str) -> str | None:
        """The fingerprint of the signing-capable secret key matching a user id or fingerprint; None when
        there is none. A matching key that cannot sign (expired, revoked, disabled, no signing capability)
        is an error that says why: it is never taken as absent."""
        if not self.home.is_dir():
            if self.home.exists():
                raise SigningError(f"GNUPGHOME={self.home} is not a directory")
            return None
        proc = self._list_secret(key_id)
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

    def _list_secret(self, key_id: str, *options: str) -> subprocess.CompletedProcess[bytes]:
        """gpg's colon listing of the secret keys matching `key_id` (exit status not checked)."""
        argv = [
            GPG,
            "--batch",
            "--no-tty",
            "--homedir",
            str(self.home),
            "--with-colons",
            *options,
            "--list-secret-keys",
            "--",
            key_id,
        ]
        return runner.run(argv, SigningError, f"gpg --list-secret-keys {key_id}", env=self.env, check=False)

    def keygrips(self, fingerprint: str) -> list[str]:
        """The keygrips of a secret key and its subkeys: what gpg-agent caches a passphrase under."""
        proc = self._list_secret(fingerprint, "--with-keygrip")
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
            runner.run(
                [connect, "--homedir", str(self.home), "--no-autostart", *commands, "/bye"],
                SigningError,
                "gpg-connect-agent",
                env=self.env,
                check=False,
            )

    def stop_agent(self) -> None:
        """Stop the gpg-agent that gpg started for this home (a run leaves no agent of its own behind)."""
        gpgconf = shutil.which("gpgconf")
        if gpgconf and self.home.is_dir():
            runner.run(
                [gpgconf, "--homedir", str(self.home), "--kill", "gpg-agent"], SigningError, "gpgconf", check=False
            )

    def detach_sign(self, fingerprint: str, path: Path, passphrase_file: Path | None) -> Path:
        """An armored detached signature of `path` by the key, beside it as PATH.asc (yum's repomd.xml.asc)."""
        signature = path.with_name(path.name + ".asc")
        secret = ["--passphrase-file", str(passphrase_file)] if passphrase_file else []
        options = ["--pinentry-mode", "loopback", *secret, "--yes", "--local-user", fingerprint, "--armor"]
        what = f"gpg --detach-sign {path}"
        self.gpg(*options, "--detach-sign", "--output", str(signature), "--", str(path), what=what)
        return signature

    def created(self, fingerprint: str) -> int:
        """When the newest part of a secret key (its primary key or a subkey) was made: no signature by it
        can be older."""
        listing = runner.text(self._list_secret(fingerprint).stdout).splitlines()
        times = [int(f[5]) for f in (line.split(":") for line in listing) if f[0] in ("sec", "ssb") and f[5].isdigit()]
        if not times:
            raise SigningError(f"no secret key {fingerprint} in {self.home}")
        return max(times)

    def sign_at(self, fingerprint: str, data: bytes, passphrase_file: Path | None, when: int) -> bytes:
        """A binary detached signature of `data` made as at `when` (gpg's --faked-system-time): an RSA
        signature of the same bytes at the same time by the same key is the same bytes, run after run."""
        secret = ["--passphrase-file", str(passphrase_file)] if passphrase_file else []
        options = ["--pinentry-mode", "loopback", *secret, "--local-user", fingerprint]
        options += ["--faked-system-time", f"{when}!", "--detach-sign", "--output", "-"]
        return self.gpg(*options, what=f"gpg --detach-sign as {fingerprint[-16:]}", input_bytes=data)

    def public_fingerprints(self, key_id: str) -> list[str]:
        """The fingerprints of the primary keys of this keyring that match a user id or fingerprint (as gpg
        matches them); none when the home or the key is absent."""
        if not self.home.is_dir():
            return []
        argv = [GPG, "--batch", "--no-tty", "--homedir", str(self.home), "--with-colons", "--list-keys", "--", key_id]
        proc = runner.run(argv, SigningError, f"gpg --list-keys {key_id}", env=self.env, check=False)
        return [b.fingerprint for b in key_blocks(runner.text(proc.stdout))] if proc.returncode == 0 else []

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
