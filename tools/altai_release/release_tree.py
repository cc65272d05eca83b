"""The published release tree and its atomic replacement.

OUT is a symbolic link to one complete release under OUT.store/releases/. A new release is assembled
there beside the current one (unchanged files are hard links to the current release's), then OUT is
switched to it with one rename of a new link over the old one: a reader or a crash sees the old release
or the new one, never a mix. OUT.store also holds the build logs, the staging area of a run and the lock
that keeps two runs from publishing at once."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2

from .errors import AltaiError, InputError
from .layout import ReleaseLayout
from .manifest import MANIFEST_NAME, Manifest, ManifestEntry
from .nevra import Nevra
from .packages import read_facts
from .repodata import read_packages, write_repodata

KEEP_RELEASES = 3  # the current one and two before it, for rollback and hard links
# goes into an INI file line by line: a newline would let the URL write sections of its own
_BASE_URL = re.compile(r"^(https?|ftp|file)://[^\s\x00-\x1f\x7f]+$")


class PublishError(AltaiError):
    pass


def check_base_url(base_url: str | None) -> None:
    """Refuse a --base-url that altai.repo cannot hold; called before anything is built."""
    if base_url is not None and not _BASE_URL.match(base_url):
        raise InputError(f"--base-url {base_url!r}: expected an http(s)://, ftp:// or file:// URL "
                         "without spaces or control characters")  # fmt: skip


@dataclass(frozen=True)
class NewFile:
    """A signed and verified package waiting in the staging area to enter the release."""

    path: Path
    repository: str
    origin: str  # layout package name or upstream name
    signer: str  # layout key name
    allowed_downgrade: str | None = None  # the EVR the layout allows this origin to go down to


class ReleaseTree:
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
        if self.out.exists():
            raise InputError(f"output {self.out} exists and is not a directory")
        return None

    def current_manifest(self) -> Manifest | None:
        current = self.current()
        if current is None or not (current / MANIFEST_NAME).exists():
            return None
        return Manifest.load(current / MANIFEST_NAME)

    # -- locking and staging --------------------------------------------------------------------
    @contextmanager
    def lock(self, wait_seconds: float = 0.0) -> Iterator[None]:
        """One publishing run per OUT: a POSIX record lock on OUT.store/lock. The kernel names its holder
        (F_GETLK), so the message cannot show a stale or half-written pid."""
        try:
            self.store.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.store / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"cannot write to {self.store}: {exc.strerror}") from exc
        try:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EACCES, errno.EAGAIN):
                        raise
                holder = _lock_holder(fd)
                if holder is None:
                    continue  # released between our try and the question
                if time.monotonic() >= deadline:
                    raise PublishError(f"another run (pid {holder}) is publishing to {self.out}; "
                                       "try again later or pass --wait SECONDS")  # fmt: skip
                time.sleep(0.2)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def staging(self) -> Path:
        """A fresh staging directory. Called under the lock: what other runs left (killed ones) goes."""
        area = self.store / "staging"
        area.mkdir(parents=True, exist_ok=True)
        for stale in area.iterdir():
            shutil.rmtree(stale, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix="run-", dir=area))

    def logdir(self, package: str) -> Path:
        path = self.logs / package
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- assembling -----------------------------------------------------------------------------
    def assemble(
        self,
        layout: ReleaseLayout,
        additions: Sequence[NewFile],
        replaced_origins: set[str],
        public_keys: Mapping[str, bytes],
        base_url: str | None,
        complete: bool = False,
        kept_origins: frozenset[str] = frozenset(),
    ) -> tuple[Path, Manifest] | None:
        """Make the next release beside the current one; returns its directory and manifest.

        Entries of `replaced_origins` (or, when `complete`, every entry but those of `kept_origins`) leave
        the release; `additions` enter it. A NEVRA already published with other content, or a version going
        down that the layout does not name, is refused before anything is written. Returns None when the
        next release would be the current one."""
        previous_dir = self.current()
        previous = self.current_manifest() or Manifest(layout.name, layout.version)
        kept = [e for e in previous.entries
                if (e.origin in kept_origins if complete else e.origin not in replaced_origins)
                and e.repository in layout.repositories]  # fmt: skip
        by_identity = {(e.repository, e.nevra): e for e in previous.entries}
        new_entries: list[ManifestEntry] = []
        sources: dict[str, Path] = {}  # entry path -> file to link from
        for item in additions:
            facts = read_facts(item.path)
            repo = layout.repositories[item.repository]
            path = f"{repo.path}/{item.path.name}"
            same = by_identity.get((item.repository, facts.nevra))
            downgraded_from = None
            if same is not None:
                if same.header_sha256 != facts.header_sha256:
                    raise PublishError(f"{facts.nevra} is already published in {item.repository} with other "
                                       "content; a published NEVRA never changes: raise its Release")  # fmt: skip
                if same.signer_keyid == facts.signer_keyid:
                    # the same build signed again by the same key: keep the bytes the release already has
                    new_entries.append(replace(same, origin=item.origin))
                    continue
                downgraded_from = same.downgraded_from  # the same build under a rotated key
            else:
                downgraded_from = self._check_downgrade(previous, item, facts.nevra)
            entry = ManifestEntry(
                repository=item.repository, path=path, origin=item.origin, name=facts.nevra.name,
                epoch=facts.nevra.epoch, version=facts.nevra.version, release=facts.nevra.release,
                arch=facts.nevra.arch, sha256=facts.sha256, header_sha256=facts.header_sha256,
                signer=item.signer, signer_keyid=facts.signer_keyid, downgraded_from=downgraded_from,
            )  # fmt: skip
            new_entries.append(entry)
            sources[path] = item.path
        entries = {e.path: e for e in kept}
        for e in new_entries:
            entries[e.path] = e
        manifest = Manifest(layout.name, layout.version, sorted(entries.values(), key=lambda e: e.path))
        repo_text = self.repo_file(layout, base_url or self.out.as_uri())
        if (previous_dir is not None and not sources and manifest.to_json() == previous.to_json()
                and (previous_dir / "altai.repo").exists()
                and (previous_dir / "altai.repo").read_text(encoding="utf-8") == repo_text):
            return None

        self.releases.mkdir(parents=True, exist_ok=True)
        target = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%dT%H%M%S-"), dir=self.releases))
        try:
            self._fill(layout, manifest, sources, previous_dir, target, public_keys, repo_text)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return target, manifest

    def _check_downgrade(self, previous: Manifest, item: NewFile, nevra: Nevra) -> str | None:
        older = [e for e in previous.entries
                 if (e.repository, e.name, e.arch) == (item.repository, nevra.name, nevra.arch)]  # fmt: skip
        if not older:
            return None
        highest = max(older, key=_EvrKey)
        if nevra.compare_evr(highest.nevra) >= 0:
            return None
        if item.allowed_downgrade in (nevra.evr, f"{nevra.version}-{nevra.release}"):
            return highest.nevra.evr
        raise PublishError(
            f"{nevra} would go down from {highest.nevra.evr} in {item.repository}; a downgrade must be named "
            f"in the layout ({item.origin}: allow_downgrade_to = \"{nevra.evr}\")"
        )

    def _fill(self, layout: ReleaseLayout, manifest: Manifest, sources: Mapping[str, Path],
              previous_dir: Path | None, target: Path, public_keys: Mapping[str, bytes],
              repo_text: str) -> None:  # fmt: skip
        for repo in layout.repositories.values():
            (target / repo.path).mkdir(parents=True, exist_ok=True)
        for entry in manifest.entries:
            origin = sources.get(entry.path) or (previous_dir / entry.path if previous_dir else None)
            if origin is None or not origin.exists():
                raise PublishError(f"{entry.path} is in the release but its file is missing from {previous_dir}")
            _link_or_copy(origin, target / entry.path)
        used_keys = {e.signer for e in manifest.entries} | {r.signed_by for r in layout.repositories.values()}
        for key in sorted(used_keys):
            name = f"RPM-GPG-KEY-{key}"
            if key in public_keys:
                (target / name).write_bytes(public_keys[key])
            elif layout.keys.get(key) and layout.keys[key].file is not None:
                shutil.copyfile(layout.keys[key].file, target / name)  # type: ignore[arg-type]
            elif previous_dir is not None and (previous_dir / name).exists():
                _link_or_copy(previous_dir / name, target / name)
            elif any(e.signer == key for e in manifest.entries):
                raise PublishError(f"no public key for {key!r}, which signed packages of this release")
        revision = int(time.time())
        unchanged = {e.path for e in manifest.entries if e.path not in sources}
        for repo in layout.repositories.values():
            reusable = {}
            if previous_dir is not None:
                for href, pkg in read_packages(previous_dir / repo.path).items():
                    if f"{repo.path}/{href}" in unchanged:
                        reusable[href] = pkg
            write_repodata(target / repo.path, reusable, revision)
        (target / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        (target / "altai.repo").write_text(repo_text, encoding="utf-8")

    def repo_file(self, layout: ReleaseLayout, base_url: str) -> str:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(layout.templates)),
                                 undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - not HTML
        repos = [{"id": f"{layout.name}-{name}", "name": name, "path": repo.path, "signed_by": repo.signed_by,
                  "sources_only": repo.content == "sources"} for name, repo in layout.repositories.items()]  # fmt: skip
        try:
            return env.get_template("altai.repo.j2").render(
                release=layout.name, version=layout.version, base_url=base_url.rstrip("/"), repositories=repos)
        except jinja2.TemplateError as exc:
            raise InputError(f"{layout.templates / 'altai.repo.j2'}: cannot render: {exc}") from exc

    # -- publishing -----------------------------------------------------------------------------
    def publish(self, release_dir: Path) -> None:
        """Point OUT at release_dir in one atomic rename."""
        if self.out.exists() and not self.out.is_symlink():
            # first publish over a plain directory: keep it as a release of the store
            os.replace(self.out, self.releases / f"adopted-{time.strftime('%Y%m%dT%H%M%S')}")
        link = self.out.with_name(f".{self.out.name}.link-{os.getpid()}")
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(os.path.relpath(release_dir, self.out.parent), link)
        os.replace(link, self.out)
        try:
            self._prune(release_dir)
        except OSError:
            pass  # old releases stay until the next run prunes them: the new one is published

    def _prune(self, current: Path) -> None:
        """Keep the last KEEP_RELEASES complete releases; drop older ones and half-made ones of killed runs."""
        releases = sorted((p for p in self.releases.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        complete = [p for p in releases if (p / MANIFEST_NAME).exists()]
        for old in releases:
            if old != current and (old not in complete or old in complete[:-KEEP_RELEASES]):
                shutil.rmtree(old, ignore_errors=True)


class _EvrKey:
    """Sort key for manifest entries in rpm's EVR order."""

    def __init__(self, entry: ManifestEntry) -> None:
        self.entry = entry

    def __lt__(self, other: _EvrKey) -> bool:
        return self.entry.nevra.compare_evr(other.entry.nevra) < 0


_FLOCK = "hhqqi4x"  # struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid


def _lock_holder(fd: int) -> int | None:
    """The pid holding a conflicting lock on the file, or None when it is free."""
    query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    l_type, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    return None if l_type == fcntl.F_UNLCK else int(pid)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(source, target)
