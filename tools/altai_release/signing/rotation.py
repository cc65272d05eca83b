"""A rotation made with `--sign-key` holds until the layout takes it up or a command line undoes it.

A run re-signs every kept package with the key its layout key resolves to now: without a record of how the
published release came to carry its key, the first plain run after `--sign-key NEW` (the layout's `id`
still naming the old key, GNUPGHOME holding both) would silently move the release back. OUT.store keeps,
per layout key, the fingerprint that signed the published release, the layout's `id` at the time and
whether `--sign-key` chose it. A plain run that would sign with another key than a `--sign-key` rotation
while the layout still says what it said then is refused; once the layout's `id` changes (the rotation
made permanent, or another one), the layout is followed."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from altai_release.core.errors import SigningError
from altai_release.layout import ReleaseLayout
from altai_release.signing.assignment import SigningIdentity

log = logging.getLogger(__name__)

RECORD = "signing.json"  # in OUT.store
MAX_RECORD_BYTES = 1024 * 1024


def load(store_dir: Path) -> dict[str, dict[str, Any]]:
    """The record of the published release's keys; empty when there is none or it cannot be read (an older
    store, a damaged file: the layout is then followed, as before the record existed)."""
    from altai_release.core.userfiles import read_json

    path = store_dir / RECORD
    if not path.is_file():
        return {}
    try:
        data = read_json(path, "signing record", MAX_RECORD_BYTES)
    except Exception as exc:  # noqa: BLE001 - any failure to read is "no record", said once
        log.warning("%s: ignored (%s)", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("fingerprint"), str)}


def refuse_undoing(
    record: dict[str, dict[str, Any]],
    identities: Iterable[SigningIdentity],
    layout: ReleaseLayout,
    override: str | None,
    out: Path,
) -> None:
    """Raises SigningError (exit 4) when this run, without `--sign-key`, would move a key that `--sign-key`
    rotated back to the key the unchanged layout names."""
    if override:
        return
    for identity in {i.key_name: i for i in identities}.values():
        was = record.get(identity.key_name)
        key = layout.keys.get(identity.key_name)
        if not was or not was.get("sign_key") or key is None or was.get("layout_id") != key.id:
            continue
        if identity.fingerprint.upper() == str(was["fingerprint"]).upper():
            continue
        raise SigningError(
            f"{out} is signed for key {identity.key_name!r} by {was['fingerprint']}, a rotation made with "
            f"--sign-key; this run would re-sign it with {identity.fingerprint}, which the layout's "
            f"[keys.{identity.key_name}] id {key.id!r} still names: to make the rotation permanent, set that id "
            f'to "{was["fingerprint"]}" in {layout.file}; to move back, give --sign-key {identity.fingerprint}'
        )


def announce(identities: Iterable[SigningIdentity], layout: ReleaseLayout, override: str | None) -> None:
    """What a `--sign-key` run tells of the rotation it makes, when the layout names another key."""
    if not override:
        return
    for identity in {i.key_name: i for i in identities}.values():
        key = layout.keys.get(identity.key_name)
        if key is None or identity.keyring.secret_fingerprint(key.id) == identity.fingerprint:
            continue
        log.warning(
            "key %r signed with %s (--sign-key), not the layout's [keys.%s] id %r: later runs without "
            "--sign-key refuse to move the release back; to make the rotation permanent, set that id to %r in %s",
            identity.key_name,
            identity.fingerprint,
            identity.key_name,
            key.id,
            identity.fingerprint,
            layout.file,
        )


def save(store_dir: Path, identities: Iterable[SigningIdentity], layout: ReleaseLayout, override: str | None) -> None:
    """After a publish: the keys the published release now carries, and how each was chosen."""
    record = load(store_dir)
    for identity in identities:
        key = layout.keys.get(identity.key_name)
        record[identity.key_name] = {
            "fingerprint": identity.fingerprint,
            "layout_id": key.id if key is not None else "",
            "sign_key": bool(override),
        }
    path = store_dir / RECORD
    temporary = path.with_name(f".{RECORD}.{os.getpid()}")
    try:
        temporary.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:  # the release is published: this cannot undo it, only weaken the next run's check
        log.warning("%s: not written (%s): the next run cannot tell a --sign-key rotation from the layout's", path, exc)
