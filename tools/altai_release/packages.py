"""Reading built packages back with the rpm bindings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AltaiError
from .nevra import Nevra


def read_header(path: Path) -> Any:
    import rpm  # loaded on first use: the bindings take ~60 ms to import

    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    try:
        with open(path, "rb") as fd:
            return ts.hdrFromFdno(fd.fileno())
    except (OSError, rpm.error) as exc:
        raise AltaiError(f"{path}: not a readable rpm package: {exc}") from exc


def read_nevra(path: Path) -> Nevra:
    hdr = read_header(path)
    get = hdr.__getitem__
    arch = "src" if get("sourcepackage") else get("arch")
    epoch = get("epoch")
    return Nevra(get("name"), None if epoch is None else int(epoch), get("version"), get("release"), arch)


@dataclass(frozen=True)
class PackageFacts:
    path: Path
    nevra: Nevra
    sha256: str
    header_sha256: str
    signer_keyid: str  # the 16-hex-digit key id of the header signature, "" when unsigned


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fd:
        for block in iter(lambda: fd.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_facts(path: Path) -> PackageFacts:
    hdr = read_header(path)
    get = hdr.__getitem__
    arch = "src" if get("sourcepackage") else get("arch")
    epoch = get("epoch")
    nevra = Nevra(get("name"), None if epoch is None else int(epoch), get("version"), get("release"), arch)
    signature = hdr.format("%{RSAHEADER:pgpsig}")
    if "Key ID" not in signature:
        signature = hdr.format("%{DSAHEADER:pgpsig}")
    keyid = signature.rsplit("Key ID", 1)[1].strip() if "Key ID" in signature else ""
    return PackageFacts(path, nevra, file_sha256(path), get("sha256header") or "", keyid)
