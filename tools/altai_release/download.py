"""Downloads of what the release is made of from elsewhere (upstream repodata and packages, source RPMs):
http(s):// and file:// only, a timeout, written beside the target and renamed into place, and kept in a
content-addressed cache where the expected hash is known, so that a second run needs no network."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from .errors import UpstreamError, VerificationError
from .hashing import file_sha256

FETCH_TIMEOUT = 60.0


def fetch(url: str, dest: Path, what: str) -> None:
    """`url` into `dest`; an error names `what` and the URL."""
    if not url.startswith(("http://", "https://", "file://")):
        raise UpstreamError(f"{what}: refusing to fetch {url!r}")
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response, open(part, "wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out)
        os.replace(part, dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, urllib.error.HTTPError):
            reason: object = f"HTTP {exc.code} {exc.reason}"
        else:
            reason = getattr(exc, "reason", None) or exc
        raise UpstreamError(f"{what}: cannot fetch {url}: {reason}") from exc


def fetch_verified(url: str, sha256: str, cache: Path, what: str) -> Path:
    """The file of that SHA-256, from `cache` or fetched from `url` into it; a download of other bytes is
    an error and is not kept."""
    target = cache / "sha256" / sha256
    if target.is_file() and file_sha256(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(f"{sha256}.incoming-{os.getpid()}")
    try:
        fetch(url, incoming, what)
        actual = file_sha256(incoming)
        if actual != sha256:
            raise VerificationError(f"{what}: {url} has SHA-256 {actual}, not the {sha256} the layout names")
        os.replace(incoming, target)
    finally:
        incoming.unlink(missing_ok=True)
    return target
