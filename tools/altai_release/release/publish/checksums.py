"""`SHA256SUMS`: every file of a release tree with its SHA-256, as `sha256sum` writes them, and its detached
signature `SHA256SUMS.asc` by the release's metadata key, written last when the tree is sealed. A check of a
tree (`--verify`, `--gate`) accounts for every file with it: a file, directory or link that SHA256SUMS does
not name is not part of the release (an `install.sh`, a script among the logs, a second key file, another
repository), and a file whose digest differs was changed (the `altai.repo`, the page, the notes, the compose
metadata). A copy is checked with standard tools too: `gpgv --keyring KEY SHA256SUMS.asc SHA256SUMS`, then
`sha256sum -c SHA256SUMS`."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from altai_release.core.errors import PublishError
from altai_release.layout import ReleaseLayout
from altai_release.sandbox import beneath
from altai_release.signing.signature_check import detached_verdict

CHECKSUMS = "SHA256SUMS"
SIGNATURE = f"{CHECKSUMS}.asc"
MAX_FILES = 200_000  # a release of 20,000 packages has about 25,000 files
MAX_DEPTH = 16  # deps/misc-srpms/repodata/FILE is four
SUM_LINE = re.compile(r"([0-9a-f]{64})  ([^\n\\]+)")  # one line of SHA256SUMS: digest, two spaces, path
_NAME = re.compile(r"[^\n\\]+")  # what sha256sum writes unescaped

Fail = Callable[[str, str], None]


def _files(tree: Path) -> Iterator[str]:
    """The release paths of the tree's regular files, in order (a tree we made: it holds no link)."""
    for top, dirs, names in os.walk(tree):
        dirs.sort()
        for name in sorted(names):
            rel = (Path(top) / name).relative_to(tree).as_posix()
            if rel not in (CHECKSUMS, SIGNATURE):
                yield rel


def write_checksums(tree: Path) -> Path:
    """SHA256SUMS of the tree `tree` (its signature is the caller's: the metadata key's)."""
    lines = []
    for rel in _files(tree):
        if not _NAME.fullmatch(rel):
            raise PublishError(f"{tree / rel}: a name SHA256SUMS cannot hold (a newline or a backslash)")
        with open(tree / rel, "rb") as f:
            lines.append(f"{hashlib.file_digest(f, 'sha256').hexdigest()}  {rel}\n")
    (tree / CHECKSUMS).write_text("".join(lines), encoding="utf-8")
    return tree / CHECKSUMS


def check_checksums(tree: Path, work: Path, layout: ReleaseLayout, key: bytes, fail: Fail) -> int:
    """Every file, directory and link of `tree` against its signed SHA256SUMS (`key`: the pinned metadata
    key); how many files it accounted for."""
    listed = _signed_listing(tree, work, key, fail)
    if listed is None:
        return 0
    allowed_dirs = {str(p) for rel in listed for p in PurePosixPath(rel).parents if str(p) != "."}
    for repo in layout.repositories.values():  # a repository is a directory of the tree, empty or not
        allowed_dirs |= {str(p) for p in (PurePosixPath(repo.path), *PurePosixPath(repo.path).parents)}
    seen: set[str] = set()
    for rel, mode in _walk(tree, fail):
        if rel in (CHECKSUMS, SIGNATURE):
            continue
        if stat.S_ISDIR(mode):
            if rel not in allowed_dirs:
                fail(rel, "a directory SHA256SUMS does not account for: not part of the release")
        elif not stat.S_ISREG(mode):
            fail(rel, f"{beneath.kind(mode)} SHA256SUMS does not account for: not part of the release")
        elif rel not in listed:
            fail(rel, "a file SHA256SUMS does not list: not part of the release")
        else:
            seen.add(rel)
            digest = _digest(tree, rel, fail)
            if digest is not None and digest != listed[rel]:
                fail(rel, "its SHA-256 differs from the signed SHA256SUMS: the file was changed")
    for rel in sorted(set(listed) - seen):
        fail(rel, "listed in the signed SHA256SUMS but missing from the tree (or not a regular file)")
    return len(seen)


def _signed_listing(tree: Path, work: Path, key: bytes, fail: Fail) -> dict[str, str] | None:
    """SHA256SUMS's paths and digests, once its signature by `key` is good (else a FAIL, and None)."""
    try:
        data = beneath.read_bytes(tree, CHECKSUMS, 64 << 20)
        signature = beneath.read_bytes(tree, SIGNATURE, 1 << 20)
    except FileNotFoundError as exc:
        missing = Path(str(exc.filename or CHECKSUMS)).name
        fail(
            CHECKSUMS,
            f"missing ({missing}): the files of the tree are not accounted for by anything signed "
            "(a release made before SHA256SUMS: rebuild it with --rebuild)",
        )
        return None
    except (beneath.Unsafe, OSError) as exc:
        fail(CHECKSUMS, f"cannot be read: {exc}")
        return None
    copies = work / "checksums"
    copies.mkdir(parents=True, exist_ok=True)
    (copies / CHECKSUMS).write_bytes(data)
    (copies / SIGNATURE).write_bytes(signature)
    why = detached_verdict(key, copies / CHECKSUMS, copies / SIGNATURE, copies / "key")
    if why is not None:
        fail(CHECKSUMS, f"bad signature by the pinned metadata key (SHA256SUMS.asc: {why})")
        return None
    listed: dict[str, str] = {}
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        match = SUM_LINE.fullmatch(line)
        parts = PurePosixPath(match.group(2)).parts if match else ()
        if match is None or match.group(2).startswith("/") or ".." in parts or match.group(2) in listed:
            fail(CHECKSUMS, f"line {number} is not 'SHA256  PATH' of a file inside the tree, once")
            return None
        listed[match.group(2)] = match.group(1)
    return listed


def _walk(tree: Path, fail: Fail) -> Iterator[tuple[str, int]]:
    """Every entry below `tree` (release path, mode), links not followed, directories entered once each,
    within MAX_FILES entries and MAX_DEPTH levels."""
    pending, count = [""], 0
    while pending:
        top = pending.pop()
        try:
            listing = beneath.entries(tree, top or ".", MAX_FILES) or {}
        except (beneath.Unsafe, OSError) as exc:
            fail(top or ".", f"cannot be listed: {exc}")
            continue
        for name, mode in sorted(listing.items()):
            rel = f"{top}/{name}" if top else name
            count += 1
            if count > MAX_FILES:
                fail(".", f"holds more than {MAX_FILES} files and directories: not read further")
                return
            yield rel, mode
            if stat.S_ISDIR(mode):
                if rel.count("/") >= MAX_DEPTH:
                    fail(rel, f"deeper than {MAX_DEPTH} levels: not read further")
                else:
                    pending.append(rel)


def _digest(tree: Path, rel: str, fail: Fail) -> str | None:
    try:
        fd = beneath.open_dir(tree, PurePosixPath(rel).parent.parts, rel)
        try:
            src = beneath.open_file(fd, PurePosixPath(rel).name, rel)
        finally:
            os.close(fd)
    except (beneath.Unsafe, OSError) as exc:
        fail(rel, f"cannot be read: {exc}")
        return None
    with os.fdopen(src, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
