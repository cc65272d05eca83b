"""Reading built packages back with the rpm bindings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from altai_release.core.errors import AltaiError, InputError
from altai_release.core.hashing import file_sha256
from altai_release.rpm.nevra import Nevra
from altai_release.rpm.rpmbindings import rpm_bindings


def read_header(path: Path) -> Any:
    rpm = rpm_bindings()
    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    try:
        with open(path, "rb") as fd:
            return ts.hdrFromFdno(fd.fileno())
    except (OSError, rpm.error) as exc:
        raise InputError(f"{path}: not a readable rpm package: {exc}") from exc


def _nevra(hdr: Any) -> Nevra:
    get = hdr.__getitem__
    arch = "src" if get("sourcepackage") else get("arch")
    epoch = get("epoch")
    return Nevra(get("name"), None if epoch is None else int(epoch), get("version"), get("release"), arch)


def read_nevra(path: Path) -> Nevra:
    return _nevra(read_header(path))


@dataclass(frozen=True)
class PackageFacts:
    path: Path
    nevra: Nevra
    sha256: str
    header_sha256: str
    signer_keyid: str  # the 16-hex-digit key id of the header signature, "" when unsigned


def read_facts(path: Path) -> PackageFacts:
    hdr = read_header(path)
    nevra = _nevra(hdr)
    signature = hdr.format("%{RSAHEADER:pgpsig}")
    if "Key ID" not in signature:
        signature = hdr.format("%{DSAHEADER:pgpsig}")
    keyid = signature.rsplit("Key ID", 1)[1].strip() if "Key ID" in signature else ""
    return PackageFacts(path, nevra, file_sha256(path), hdr["sha256header"] or "", keyid)


_PAYLOAD_IO = {"gzip": "gzdio", "bzip2": "bzdio", "xz": "xzdio", "lzma": "lzdio", "zstd": "zstdio"}


def payload_files(path: Path, spec_only: bool = False, limit: int = 1 << 30) -> Iterator[tuple[str, bool, bytes]]:
    """(name, is the spec, bytes) of each file in a package's payload (with `spec_only`, of the spec alone:
    a tarball is not read into memory for nothing), read with the rpm bindings; nothing is written: names
    from an untrusted SRPM are the caller's to check. A file larger than `limit` is an error."""
    rpm = rpm_bindings()
    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    try:
        fd = rpm.fd.open(str(path))
        try:
            hdr = ts.hdrFromFdno(fd)
            compressor = hdr["payloadcompressor"] or "gzip"
            if compressor not in _PAYLOAD_IO:
                raise AltaiError(f"{path}: payload compressed with {compressor!r}, which this tool cannot read")
            archive = rpm.files(hdr).archive(rpm.fd(fd, "r", _PAYLOAD_IO[compressor]))
            for item in archive:
                is_spec = bool(item.fflags & rpm.RPMFILE_SPECFILE)
                if spec_only and not is_spec:
                    continue
                if item.size > limit:
                    raise InputError(f"{path}: {item.name} holds {item.size} bytes, more than {limit}")
                yield item.name, is_spec, archive.read() if item.size else b""
        finally:
            fd.close()
    except (OSError, rpm.error) as exc:
        raise InputError(f"{path}: not a readable rpm package: {exc}") from exc
