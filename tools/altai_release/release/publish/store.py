"""Where releases live and how one replaces another, atomically.

OUT is a symbolic link to one complete release under OUT.store/releases/. A new release is made there
beside the current one (unchanged files are hard links to the current release's), then OUT is switched to
it with one rename of a new link over the old one: a reader or a crash sees the old release or the new
one, never a mix. OUT.store also holds the build logs, the build cache, the staging area of a run and the
lock that keeps two runs from publishing at once.

The tool never removes what it did not make. Before a run writes, the store is claimed (`claim`): OUT must
be absent, an empty directory, a link into OUT.store/releases/, or a release tree of ours (a manifest.json
this tool reads, and only files this tool writes: no other file, no link), which is kept in the store as
`adopted-*` and never pruned; OUT.store must be ours (its marker file) or absent or empty; `/`, a home
directory, the current directory, this checkout, the directories that hold them and a mount point are never
used. Inside OUT.store, pruning and sweeping remove only what the tool's own names and markers identify: a
release directory named as the tool names them (whose manifest, when it has one, names it), a run's staging
directory named `run-*` with its marker; anything else found there is left alone, and said once."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from altai_release.core.errors import AltaiError, InputError
from altai_release.core.recordlock import exclusive_lock
from altai_release.release.publish.claim import foreign_entries, refuse_precious
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest
from altai_release.sandbox.scratch import unmount_below

log = logging.getLogger(__name__)

KEEP_RELEASES = 3  # the current one and two before it, for rollback and hard links
ADOPTED = "adopted-"  # a release tree found at OUT, kept in the store as it was
STORE_MARKER = ".altai-release-store"  # in OUT.store: this tool made it, and everything in it
RUN_MARKER = ".altai-run"  # in each staging directory of a run
STALE_PASSES, STALE_PAUSE = 10, 0.2  # seconds between passes over a killed run's staging directory


def remove_staging(stale: Path) -> None:
    """A run's staging directory, at its end or after it was killed. The processes it started (sandboxed
    children, gpg-agents of throwaway homes) end with it, but not at the same instant: what one of them still
    wrote while the tree went is taken on the next pass (bounded: a directory still written after two seconds
    stays, and the next run takes it)."""
    for _ in range(STALE_PASSES):
        shutil.rmtree(stale, ignore_errors=True)
        if not stale.exists():
            return
        time.sleep(STALE_PAUSE)


_RELEASE_NAME = re.compile(r"\d{8}T\d{6}-[A-Za-z0-9_]{8}")  # new_release_dir's names


class ReleaseStore:
    def __init__(self, out: Path) -> None:
        self.out = Path(os.path.abspath(out))
        if not self.out.name or self.out.name in (".", ".."):
            raise InputError(f"--out {out}: expected a directory path with a name (OUT.store is made beside it)")
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"--out {self.out}: exists and is not a directory")
        self.store = self.out.with_name(self.out.name + ".store")
        self.releases = self.store / "releases"
        self.logs = self.store / "logs"
        self.cache = self.store / "cache"

    # -- the current release -------------------------------------------------------------------
    def current(self) -> Path | None:
        if self.out.is_symlink():
            target = self.out.resolve()
            return target if target.is_dir() else None
        if self.out.is_dir():  # a tree made by hand or by an older version of the tool
            return self.out
        return None

    def current_manifest(self) -> Manifest | None:
        current = self.current()
        if current is None or not (current / MANIFEST_NAME).exists():
            return None
        return Manifest.load(current / MANIFEST_NAME)

    # -- claiming, locking, staging, logs ----------------------------------------------------------
    def claim(self) -> None:
        """Refuse an OUT or OUT.store that holds what this tool did not make (it would replace or sweep it);
        then mark OUT.store as ours."""
        if self.out.is_symlink():
            # a release of ours: publishing replaces the link only (a shell sitting in the tree loses nothing)
            target = Path(os.path.realpath(self.out))
            if not target.is_relative_to(Path(os.path.realpath(self.releases))):
                raise InputError(
                    f"--out {self.out}: a link to {target}, not to a release of {self.store}; choose another --out"
                )
        else:
            refuse_precious(self.out)
            if os.path.ismount(self.out):
                raise InputError(
                    f"--out {self.out}: a mount point; a release is published by putting a link in its place: "
                    f"give a directory inside it (e.g. --out {self.out / 'release'})"
                )
            if self.out.is_dir() and any(self.out.iterdir()):
                foreign = foreign_entries(self.out)
                if foreign:
                    raise InputError(
                        f"--out {self.out}: exists and is not a release tree of this tool ({', '.join(foreign[:3])} "
                        "is not one of its files); nothing was changed: choose another --out, or move it away"
                    )
        if self.store.is_symlink() or (self.store.exists() and not self.store.is_dir()):
            raise InputError(f"{self.store}: exists and is not a directory this tool made; move it away")
        if self.store.is_dir() and not (self.store / STORE_MARKER).is_file() and any(self.store.iterdir()):
            found = ", ".join(sorted(p.name for p in self.store.iterdir())[:3])
            raise InputError(
                f"{self.store}: exists, is not empty ({found}) and has no {STORE_MARKER}: this tool did not make "
                "it, and never takes over what it did not make; nothing was changed: choose another --out, or "
                "move it away"
            )
        try:
            self.store.mkdir(parents=True, exist_ok=True)
            (self.store / STORE_MARKER).write_text("made by altai-release's build.py: OUT's releases, logs, cache\n")
        except OSError as exc:
            raise InputError(f"cannot write to {self.store}: {exc.strerror}") from exc

    @contextmanager
    def lock(self, wait_seconds: float = 0.0) -> Iterator[None]:
        """One publishing run per OUT: a POSIX record lock on OUT.store/lock. The kernel names its holder
        (F_GETLK), so the message cannot show a stale or half-written pid. A first run that fails before
        it publishes or logs anything takes away the OUT.store it made."""
        made_here = not self.store.exists()
        self.claim()
        with exclusive_lock(self.store / "lock", wait_seconds, f"publishing to {self.out}"):
            try:
                yield
            except BaseException:
                if made_here:
                    self._remove_if_unused()
                raise

    def _remove_if_unused(self) -> None:
        """OUT.store as this run made it, when it holds no release, log or download: a failed build keeps its
        log there (the error names it), and a download is kept for the next try."""
        keep = (self.releases, self.logs, self.store / "downloads")
        if any(p.is_file() or p.is_symlink() for d in keep if d.is_dir() for p in d.rglob("*")):
            return
        shutil.rmtree(self.store, ignore_errors=True)

    def staging(self) -> Path:
        """A fresh staging directory. Called under the lock: what other runs left (killed ones) goes."""
        area = self.store / "staging"
        area.mkdir(parents=True, exist_ok=True)
        unmount_below(area)  # a killed run's scratch filesystems
        for stale in area.iterdir():
            if stale.name.startswith("run-") and not stale.is_symlink() and stale.is_dir():
                if (stale / RUN_MARKER).is_file():
                    remove_staging(stale)
                else:
                    with contextlib.suppress(OSError):  # killed before its marker: only if empty
                        stale.rmdir()
            if stale.exists() or stale.is_symlink():
                log.info("%s: not a run's staging directory of this tool: left as it is", stale)
        made = Path(tempfile.mkdtemp(prefix="run-", dir=area))
        (made / RUN_MARKER).touch()  # empty: it costs no block of a disk that may be full
        return made

    def logdir(self, package: str) -> Path:
        path = self.logs / package
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- making and publishing a release --------------------------------------------------------
    def new_release_dir(self) -> Path:
        self.releases.mkdir(parents=True, exist_ok=True)
        made = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%dT%H%M%S-"), dir=self.releases))
        made.chmod(0o755)  # mkdtemp's 0700 would keep a web server (nginx, httpd as their own user) out
        return made

    def publish(self, release_dir: Path) -> None:
        """Point OUT at release_dir in one atomic rename; then drop releases beyond the last three."""
        if self.out.is_dir() and not self.out.is_symlink():
            if any(self.out.iterdir()):  # a tree of an older version of the tool (claim checked every entry)
                adopted = self.releases / f"{ADOPTED}{time.strftime('%Y%m%dT%H%M%S')}"
                log.info("%s: the release tree there is kept as %s (never pruned)", self.out, adopted)
                os.replace(self.out, adopted)
            else:
                self.out.rmdir()  # empty (claim refused anything else); fails rather than lose a file
        link = self.out.with_name(f".{self.out.name}.link-{os.getpid()}")
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(os.path.relpath(release_dir, self.out.parent), link)
        os.replace(link, self.out)
        with contextlib.suppress(OSError):  # old releases stay until the next run prunes them: it is published
            self._prune(release_dir)

    def _prune(self, current: Path) -> None:
        """Keep the last KEEP_RELEASES complete releases; drop older ones and half-made ones of killed runs:
        only directories named as this tool names releases, whose manifest (if any) names them."""
        releases = sorted(
            (p for p in self.releases.iterdir() if _made_here(p)), key=lambda p: p.stat().st_mtime
        )  # an adopted tree was not made by this tool, nor is anything else there: never removed
        complete = [p for p in releases if (p / MANIFEST_NAME).exists()]
        for old in releases:
            if old != current and (old not in complete or old in complete[:-KEEP_RELEASES]):
                shutil.rmtree(old, ignore_errors=True)


def _made_here(release: Path) -> bool:
    """A release directory this tool made: its name, and the id its manifest gives it (a half-made one of a
    killed run has no manifest yet)."""
    if release.is_symlink() or not release.is_dir() or not _RELEASE_NAME.fullmatch(release.name):
        return False
    manifest = release / MANIFEST_NAME
    if not manifest.exists():
        return True
    try:
        return Manifest.load(manifest).id == release.name
    except (AltaiError, OSError):
        return False


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the filesystem allows one (a release shares its unchanged files), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(source, target)
