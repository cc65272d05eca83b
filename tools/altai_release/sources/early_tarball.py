"""The tarball packed while the spec is read in its sandbox. That read is git2srpm's longest wait, and the
tarball needs only three things from it: its top directory (NAME-VERSION), its file name (Source0's) and,
through the files the spec names, its time. When the spec states them plainly, they are guessed from its
text and the tarball is packed beside the read; it is taken only if the read spec says the same, and packed
again otherwise, so a wrong guess costs time, never bytes."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from altai_release.core.errors import AltaiError
from altai_release.git import Commit, GitSource, Tree
from altai_release.sources.tarball import SourceTarball, compression_for

_TAG = re.compile(r"^(name|version|source0?)[ \t]*:[ \t]*(\S+)[ \t]*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Guess:
    top: str  # NAME-VERSION
    filename: str  # Source0's


def guess(spec_text: str) -> Guess | None:
    """NAME-VERSION and Source0's file name, when the spec gives each once and without macros (Source0 may use
    %{name} and %{version}); None when only rpm can tell."""
    found: dict[str, list[str]] = {}
    for match in _TAG.finditer(spec_text):
        tag = match.group(1).lower()
        found.setdefault("source0" if tag == "source" else tag, []).append(match.group(2))
    if any(len(found.get(tag, ())) != 1 for tag in ("name", "version", "source0")):
        return None  # absent, or set twice (under %if, in a subpackage): rpm decides
    name, version, source0 = found["name"][0], found["version"][0], found["source0"][0]
    for macro, value in (("name", name), ("version", version)):
        source0 = source0.replace(f"%{{{macro}}}", value).replace(f"%{macro}", value)
    filename = source0.rsplit("/", 1)[-1]
    if "%" in name + version + filename or filename in ("", ".", ".."):
        return None
    try:
        compression_for(filename)
    except AltaiError:
        return None  # not an archive git2srpm makes: the usual path says so
    return Guess(f"{name}-{version}", filename)


class EarlyTarball:
    """Packs `tree` under the guess in a thread. The caller must not use `source` until `wait()` (or
    `cancel()`) has returned: the thread reads through the same `cat-file --batch`."""

    def __init__(
        self, source: GitSource, commit: Commit, tree: Tree, paths: list[PurePosixPath], guess: Guess, into: Path
    ) -> None:
        self.guess = guess
        self._stop = threading.Event()
        self._made: tuple[Path, int] | None = None  # the tarball and its time, once packed
        self._thread = threading.Thread(target=self._pack, args=(source, commit, tree, paths, into), daemon=True)
        self._thread.start()

    def _pack(self, source: GitSource, commit: Commit, tree: Tree, paths: list[PurePosixPath], into: Path) -> None:
        try:
            mtime = source.last_change_time(commit, paths)
            into.mkdir()
            dest = into / self.guess.filename
            SourceTarball(source, tree, self.guess.top, mtime, {}, commit).write(dest, self._stop.is_set)
            self._made = (dest, mtime)
        except Exception:  # noqa: BLE001 - the usual path packs it again and says what is wrong
            pass

    def wait(self) -> None:
        self._thread.join()

    def cancel(self) -> None:
        self._stop.set()
        self._thread.join()

    def take(self, top: str, filename: str, mtime: int) -> Path | None:
        """The packed tarball if the guess and the time were right, else None."""
        self.wait()
        if self._made is None or self.guess != Guess(top, filename) or self._made[1] != mtime:
            return None
        return self._made[0]
