"""Files a user names on the command line or a layout names (a layout, a manifest, `--diff`'s files, a
passphrase file, a public key file): each must be a regular file no larger than its bound, read as such, so
that `/dev/zero`, a FIFO, a directory or a runaway file is one clear error instead of an endless read."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from altai_release.core.errors import InputError

MIB = 1024 * 1024
KEY_FILE_LIMIT = 4 * MIB  # an armored public key with its signatures
JSON_BYTES_PER_VALUE = 8  # the fewest bytes per value a JSON file of this tool may have (it writes ~20)


def read_bytes(path: Path, what: str, limit: int) -> bytes:
    """The bytes of the regular file `path`; `what` names it in errors ("release layout", ...)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise InputError(f"{path}: {kind}; expected the {what} as a file")
        if info.st_size > limit:
            raise InputError(f"{path}: {info.st_size} bytes, more than a {what} may have ({limit} bytes)")
        os.set_blocking(fd, True)
        data = bytearray()
        while len(data) <= limit and (chunk := os.read(fd, MIB)):
            data += chunk  # a bytearray grows in place: linear in the file's size
        if len(data) > limit:
            raise InputError(f"{path}: grew past {limit} bytes while read, more than a {what} may have")
        return bytes(data)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def read_json(path: Path, what: str, limit: int) -> Any:
    """A JSON document from a regular file under `limit`; malformed or too deeply nested JSON is one error."""
    return parse_json(read_bytes(path, what, limit), path, what)


def parse_json(data: bytes, path: Path, what: str) -> Any:
    """`data` (read from `path`) as JSON; malformed or too deeply nested JSON is one error, and so is a
    document of more values than its size allows (JSON_BYTES_PER_VALUE): parsed, each costs up to ~65 bytes
    of memory whatever its size in the file (`[{},{},...]`: 3 bytes each), so a hostile file of the bound
    would cost 20 times its size; counted first, none costs more than a few times it."""
    values = sum(data.count(c) for c in (b"{", b"[", b",", b":"))
    if values > len(data) // JSON_BYTES_PER_VALUE + 1000:
        raise InputError(
            f"{path}: not a {what}: {values} values in {len(data)} bytes, more than one per "
            f"{JSON_BYTES_PER_VALUE} bytes (this tool's files use ~20)"
        )
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise InputError(f"{path}: not a {what}: nested too deeply") from None
    except ValueError as exc:  # also UnicodeDecodeError
        raise InputError(f"{path}: not a {what}: {exc}") from exc
