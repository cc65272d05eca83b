"""Reading built packages back with the rpm bindings."""

from __future__ import annotations

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
