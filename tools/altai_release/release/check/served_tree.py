"""`--verify URL`: a release as a web server serves it, fetched into a work directory and then checked as
any tree. A recursive `wget` follows the page's links and misses `repodata/`; the release's own list of its
files is SHA256SUMS, so that is what is fetched: SHA256SUMS and its signature first, then every file it
names, each bounded in size and time (the layout's `[downloads]`) and checked against its SHA-256 while it
streams. A name that is not a plain path inside the tree, or a list longer than a release can be, is
refused before anything else is fetched. Whether SHA256SUMS itself is the publisher's is the check's
question, answered against the pinned key like every other signature of the tree."""

from __future__ import annotations

import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path, PurePosixPath

from altai_release.core.download import fetch
from altai_release.core.errors import InputError, UpstreamError
from altai_release.core.limits import DownloadLimits
from altai_release.release.publish.checksums import CHECKSUMS, MAX_DEPTH, MAX_FILES, SIGNATURE, SUM_LINE

MAX_LIST_BYTES = 64 * 1024 * 1024  # SHA256SUMS of MAX_FILES files is about 25 MiB
MAX_SIGNATURE_BYTES = 64 * 1024
MAX_TREE_BYTES = 256 * 1024 * 1024 * 1024  # all files together: a release of 20,000 packages is far below


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _listed(text: str, url: str) -> dict[str, str]:
    """{path: sha256} of SHA256SUMS, every path a plain relative path inside the tree."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = SUM_LINE.fullmatch(line)
        path = PurePosixPath(match.group(2)) if match else None
        if (
            match is None
            or path is None
            or path.is_absolute()
            or any(part in ("", ".", "..") for part in path.parts)
            or len(path.parts) > MAX_DEPTH
            or str(path) != match.group(2)
            or str(path) in (CHECKSUMS, SIGNATURE)
        ):
            raise InputError(f"{url}{CHECKSUMS}:{number}: not a line of a release's SHA256SUMS: {line[:200]!r}")
        found[str(path)] = match.group(1)
        if len(found) > MAX_FILES:
            raise InputError(f"{url}{CHECKSUMS}: lists more than {MAX_FILES} files, more than a release holds")
    if not found:
        raise InputError(f"{url}{CHECKSUMS}: lists no file: not a release")
    directories = {str(parent) for path in found for parent in PurePosixPath(path).parents}
    both = sorted(directories & set(found))
    if both:  # a file and a directory of one name: no tree holds both
        raise InputError(f"{url}{CHECKSUMS}: lists {both[0]!r} as a file and as a directory: not a release")
    return found


def download_tree(url: str, target: Path, limits: DownloadLimits, jobs: int) -> Path:
    """The release served at `url`, fetched into `target` (made here) as its SHA256SUMS lists it."""
    base = url if url.endswith("/") else url + "/"
    what = f"--verify {url}"
    target.mkdir()
    small = replace(limits, max_bytes=MAX_LIST_BYTES)
    try:
        fetch(base + CHECKSUMS, target / CHECKSUMS, what, small)
    except UpstreamError as exc:
        raise UpstreamError(f"{exc} (a release served over HTTP has {CHECKSUMS} at its top)") from None
    fetch(base + SIGNATURE, target / SIGNATURE, what, replace(limits, max_bytes=MAX_SIGNATURE_BYTES))
    files = _listed((target / CHECKSUMS).read_text(encoding="utf-8", errors="replace"), base)
    for rel in files:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)

    fetched = [0]
    lock = threading.Lock()

    def one(rel: str) -> None:
        fetch(base + urllib.parse.quote(rel), target / rel, what, limits, expect=files[rel], expect_from=CHECKSUMS)
        with lock:
            fetched[0] += (target / rel).stat().st_size
            if fetched[0] > MAX_TREE_BYTES:
                raise UpstreamError(f"{what}: the files SHA256SUMS lists pass {MAX_TREE_BYTES} bytes; stopped")

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, 8))) as pool:
        for done in [pool.submit(one, rel) for rel in sorted(files)]:
            done.result()  # the first failure, in the list's order
    return target
