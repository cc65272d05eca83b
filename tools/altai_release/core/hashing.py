"""File digests, streamed: packages and downloads can be large."""

from __future__ import annotations

import hashlib
from pathlib import Path

# names that yum/dnf metadata uses for its checksums, as hashlib knows them
_METADATA_NAMES = {"sha": "sha1"}


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    with open(path, "rb") as fd:
        return hashlib.file_digest(fd, _METADATA_NAMES.get(algorithm, algorithm)).hexdigest()


def file_sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
