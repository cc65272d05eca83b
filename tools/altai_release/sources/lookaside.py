"""Sources that are not in git: Fedora dist-git's `sources` file next to the spec and its lookaside cache.

`sources` lists one file a line, `SHA512 (name.tar.gz) = <hex>` (any hashlib algorithm) or, in older
repositories, `<md5>  name.tar.gz`. A listed file is fetched from the lookaside, Fedora's URL shape
`{url}/{package}/{filename}/{hashtype}/{hash}/{filename}` (for an MD5, also the old shape without the
hash type, `{url}/{package}/{filename}/{md5}/{filename}`), or failing that from the Source's own URL,
outside the spec sandbox; it is checked against its hash and kept in a content-addressed cache, so that
the next build needs no network (and `--offline` needs none at all). `place_sources` puts every SourceN and
PatchN of a spec into SOURCES, from the repository or from here."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from altai_release.core.errors import InputError, UpstreamError
from altai_release.core.hashing import file_digest
from altai_release.core.limits import DEFAULT_DOWNLOAD_LIMITS, DownloadLimits
from altai_release.git import Commit, GitSource
from altai_release.specfile.spec import SpecInfo

_TAGGED = re.compile(r"^(?P<algo>[A-Za-z0-9-]+) \((?P<name>[^)]+)\) = (?P<hex>[0-9a-fA-F]+)$")
_OLD = re.compile(r"^(?P<hex>[0-9a-fA-F]{32}) [ *](?P<name>.+)$")


@dataclass(frozen=True)
class LookasideFile:
    name: str
    algorithm: str  # hashlib's name (sha512, sha3_256)
    digest: str
    hashtype: str  # as the lookaside's URLs name it: the sources file's, lower case (sha512, sha3-256)


def _hashlib_name(written: str) -> str | None:
    """SHA512 -> sha512, SHA3-256 -> sha3_256, BLAKE2b -> blake2b: the algorithm hashlib knows by that name."""
    lower = written.lower()
    for candidate in (lower, lower.replace("-", "_"), lower.replace("-", "")):
        if candidate in hashlib.algorithms_available:
            return candidate
    return None


def parse_sources(text: str, where: str) -> dict[str, LookasideFile]:
    files = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tagged, old = _TAGGED.match(line), _OLD.match(line)
        if tagged:
            hashtype, name, digest = tagged["algo"].lower(), tagged["name"], tagged["hex"].lower()
        elif old:
            hashtype, name, digest = "md5", old["name"].strip(), old["hex"].lower()
        else:
            raise InputError(f"{where}:{number}: expected 'SHA512 (FILE) = HASH' or 'MD5HASH  FILE', found {raw!r}")
        algorithm = _hashlib_name(hashtype)
        if algorithm is None or "/" in name or name in (".", ".."):
            raise InputError(f"{where}:{number}: cannot check {name!r} with {hashtype!r}")
        files[name] = LookasideFile(name, algorithm, digest, hashtype)
    return files


@dataclass(frozen=True)
class Lookaside:
    url: str | None  # the lookaside's base URL
    cache: Path  # content-addressed: cache/<algorithm>/<hash>
    offline: bool = False
    limits: DownloadLimits = DEFAULT_DOWNLOAD_LIMITS

    def get(self, package: str, entry: LookasideFile, source_url: str | None, what: str) -> Path:
        """The verified file, from the cache or fetched into it."""
        target = self.cache / entry.algorithm / entry.digest
        corrupt = ""
        if target.is_file():
            if file_digest(target, entry.algorithm) == entry.digest:
                return target
            target.unlink()  # the cache is content-addressed and ours: a damaged entry goes
            corrupt = f"{entry.name} in the download cache {self.cache} did not match its hash (removed)"
        if self.offline:
            missing = corrupt or f"{entry.name} is not in the download cache {self.cache}"
            raise InputError(f"{what}: {missing}; fetch it once without --offline")
        urls = []
        if self.url:
            base = self.url.rstrip("/")
            urls.append(f"{base}/{package}/{entry.name}/{entry.hashtype}/{entry.digest}/{entry.name}")
            if entry.hashtype == "md5":  # where fedpkg still finds a file of an old `sources` file
                urls.append(f"{base}/{package}/{entry.name}/{entry.digest}/{entry.name}")
        if source_url and source_url.startswith(("http://", "https://")):
            urls.append(source_url)
        if not urls:
            raise InputError(
                f"{what}: {entry.name} is listed in sources but there is no lookaside URL to fetch it "
                "from (the layout's [release] lookaside, or git2srpm --lookaside URL)"
            )
        from altai_release.core.download import (
            fetch,  # urllib.request costs ~50 ms to import: only when something is fetched
        )

        target.parent.mkdir(parents=True, exist_ok=True)
        failures = []
        for url in urls:
            try:
                fetch(url, target, what, self.limits, entry.algorithm, entry.digest, "sources")
            except UpstreamError as exc:
                failures.append(str(exc).removeprefix(f"{what}: "))
                continue
            return target
        raise UpstreamError(f"{what}: {'; '.join(failures)}")


def default_download_cache() -> Path:
    from altai_release.layout.places import cache_dir

    return cache_dir() / "downloads"


def place_sources(
    source: GitSource, commit: Commit, spec_path: PurePosixPath, info: SpecInfo, sources_dir: Path, lookaside: Lookaside
) -> tuple[list[str], bool]:
    """Every SourceN/PatchN but a packed Source0 into SOURCES: from the repository next to the spec, or, when
    listed in the `sources` file there, from the lookaside. Returns the repository paths the package is
    made of besides its tree, and whether Source0 itself came from the lookaside."""
    sources_path = spec_path.parent / "sources"
    listing = source.read_file(commit, sources_path)
    listed = parse_sources(listing.decode("utf-8", "replace"), f"{source.location}: {sources_path}") if listing else {}
    wanted = list(info.extra_files) + ([info.source0] if info.source0.filename in listed else [])
    named, missing = [], []
    for extra in sorted(wanted, key=lambda s: (s.kind != "source", s.number)):
        if extra.filename in ("", ".", "..") or "/" in extra.filename:
            raise InputError(f"{spec_path}: {extra.tag} {extra.location!r} does not name a file")
        in_repo = spec_path.parent / extra.filename
        data = source.read_file(commit, in_repo)
        if data is not None and extra.filename not in listed:
            (sources_dir / extra.filename).write_bytes(data)
            named.append(str(in_repo))
        elif extra.filename in listed:
            url = extra.location if "://" in extra.location else None
            fetched = lookaside.get(
                info.name, listed[extra.filename], url, f"{spec_path}: {extra.tag} {extra.filename}"
            )
            shutil.copyfile(fetched, sources_dir / extra.filename)
        else:
            missing.append(f"{extra.tag} {str(in_repo)!r}")
    if missing:
        raise InputError(
            f"{spec_path}: neither in the repository at {commit.hexsha[:12]} nor listed in {sources_path}: "
            + ", ".join(missing)
        )
    if listed:
        named.append(str(sources_path))
    return sorted(named), info.source0.filename in listed
