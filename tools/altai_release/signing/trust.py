"""The keys a check of a release trusts (`--verify`, `--gate`): pinned outside the tree under test, never read
from it. A tree's own `RPM-GPG-KEY-*` files are somebody's input like the rest of it: a release re-made with
another key carries that key too, so they are only compared with the pinned keys.

For each layout key, in this order:
- the key file the layout names (`[keys.NAME] file`: an upstream key);
- the files given with `--trust-key` (a downloaded copy, checked against the key its publisher announced):
  every key they hold is trusted for every key of ours (a key without a file in the layout);
- the user's keyring (`GNUPGHOME`): the public key matching the layout's `id`, as gpg matches it;
- the development key of the state directory, when the layout allows one (`development = true`);
plus the fingerprints a rotation left behind (`[keys.NAME] previous`), for releases signed before it: their
key material may come from anywhere, the tree's own key file included, since only the pinned fingerprint
is taken from it. No pin is one error (exit 4) naming where it looked."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from altai_release.core.errors import SigningError
from altai_release.core.userfiles import KEY_FILE_LIMIT, read_bytes
from altai_release.layout import ReleaseLayout, SigningKey
from altai_release.sandbox import beneath
from altai_release.signing.keyfiles import DEV_KEY_UID, KeyBlock, only_keys, show_keys
from altai_release.signing.keyring import Keyring, default_gnupghome


@dataclass(frozen=True)
class TrustedKey:
    """The public keys one layout key may have signed with, and where they were found."""

    name: str  # the layout's name of the key
    blocks: tuple[KeyBlock, ...]  # the current key(s) first, then previous ones
    public_key: bytes  # armored: exactly these keys
    source: str  # as the output names it: "GNUPGHOME=...", "--trust-key FILE", ...

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(b.fingerprint for b in self.blocks)

    @property
    def key_ids(self) -> frozenset[str]:
        """The 16 hex digits of every key and subkey (upper case): what a package's signature names."""
        return frozenset(i for b in self.blocks for i in b.key_ids)

    def __str__(self) -> str:
        return f"{self.name} {', '.join(self.fingerprints)} ({self.source})"


@dataclass
class KeyPins:
    """The trusted key of each layout key, found when first asked for (a key no repository of the tree uses
    needs no pin)."""

    layout: ReleaseLayout
    work: Path  # throwaway gpg homes
    trust_files: Sequence[Path] = ()
    gnupghome: Path | None = None
    state_dir: Path | None = None
    # a run's own signing keys (the gate): name -> (fingerprint, public key), pinned by the run itself
    run_keys: Mapping[str, tuple[str, bytes]] = field(default_factory=dict)
    tree: Path | None = None  # where the material of a previous key may come from (filtered by fingerprint)
    _found: dict[str, TrustedKey] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, name: str) -> TrustedKey:
        with self._lock:
            if name not in self._found:
                self._found[name] = self._pin(self.layout.keys[name])
            return self._found[name]

    def found(self) -> list[TrustedKey]:
        with self._lock:
            return [self._found[n] for n in sorted(self._found)]

    def _pin(self, key: SigningKey) -> TrustedKey:
        material, source = self._current(key)
        blocks = show_keys(material, self.work)
        if not blocks:
            raise SigningError(f"key {key.name!r}: {source} holds no public key gpg can read")
        previous = [f for f in key.previous if f not in {b.fingerprint for b in blocks}]
        if previous:
            material += self._previous(key, previous)
            blocks = show_keys(material, self.work)
        current = [b for b in blocks if b.fingerprint not in previous]
        ordered = current + [b for b in blocks if b.fingerprint in previous]
        return TrustedKey(key.name, tuple(ordered), material, source)

    def _current(self, key: SigningKey) -> tuple[bytes, str]:
        """The key material trusted for `key` now, and where it came from."""
        if key.file is not None:
            return read_bytes(key.file, "public key file", KEY_FILE_LIMIT), f"the layout's key file {key.file}"
        if key.name in self.run_keys:
            fingerprint, public = self.run_keys[key.name]
            return only_keys(public, [fingerprint], self.work), "the key this run signs with"
        if self.trust_files:
            data = b"".join(read_bytes(p, "public key file", KEY_FILE_LIMIT) for p in self.trust_files)
            return data, "--trust-key " + ", ".join(str(p) for p in self.trust_files)
        user = Keyring(self.gnupghome or default_gnupghome())
        found = user.public_fingerprints(key.id)
        if len(found) > 1:
            raise SigningError(
                f"key {key.name!r}: id {key.id!r} matches several public keys in GNUPGHOME={user.home} "
                f"({', '.join(found)}); name one by fingerprint in the layout's [keys.{key.name}] id"
            )
        if found:
            return user.export_public(found[0]), f"GNUPGHOME={user.home}"
        dev = Keyring(self.state_dir / "dev-gnupg") if self.state_dir is not None and key.development else None
        fingerprints = dev.public_fingerprints(DEV_KEY_UID) if dev is not None else []
        if dev is not None and len(fingerprints) == 1:
            return dev.export_public(fingerprints[0]), f"the DEVELOPMENT key of {dev.home}"
        where = f"no public key {key.id!r} in GNUPGHOME={user.home}"
        if key.development:
            where += f", no development key in {self.state_dir}"
        raise SigningError(
            f"no key to trust for {key.name!r}: {where}; give the release's public key, obtained from a source "
            "you trust, with --trust-key FILE (the tree's own key file proves nothing)"
        )

    def _previous(self, key: SigningKey, fingerprints: list[str]) -> bytes:
        """The material of the keys a rotation replaced: from the user's keyring, else from the tree's own
        key file, of which only these fingerprints are taken."""
        user = Keyring(self.gnupghome or default_gnupghome())
        material = b"".join(user.export_public(f) for f in fingerprints if user.public_fingerprints(f))
        if self.tree is not None:
            # read as any file of the tree (a regular file beneath it, never through a link); absent or odd,
            # it adds nothing: it is a convenience, the fingerprint is what is trusted
            with contextlib.suppress(beneath.Unsafe, OSError):
                material += beneath.read_bytes(self.tree, f"RPM-GPG-KEY-{key.name}", KEY_FILE_LIMIT)
        return only_keys(material, fingerprints, self.work)


def key_of(pins: KeyPins, layout: ReleaseLayout, repository: str) -> TrustedKey:
    """The trusted key of a repository of the layout."""
    return pins.get(layout.repositories[repository].signed_by)


@dataclass(frozen=True)
class TrustSources:
    """Where a check finds the keys it trusts (see the module's text), before it knows which it needs."""

    trust_files: tuple[Path, ...] = ()
    gnupghome: Path | None = None
    state_dir: Path | None = None
    run_keys: Mapping[str, tuple[str, bytes]] = field(default_factory=dict)

    def pins(self, layout: ReleaseLayout, work: Path, tree: Path | None = None) -> KeyPins:
        return KeyPins(layout, work, self.trust_files, self.gnupghome, self.state_dir, self.run_keys, tree)
