"""The release description (repo-layout/*.toml) as a typed, validated ReleaseLayout.

Errors name the file, the key and what was expected, e.g.
`repo-layout/altai.toml: packages.nova-fping.repository: 'centos7' is not a repository (known: ...)`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .evr import Pin, parse_pin
from .kojiconfig import KojiSettings, read_koji
from .limits import (
    DEFAULT_DOWNLOAD_LIMITS,
    DEFAULT_LIMITS,
    DownloadLimits,
    SandboxLimits,
    read_download_limits,
    read_limits,
)
from .paths import DEFAULT_LAYOUT, is_git_url
from .tomlreader import TomlReader, quoted

CONTENT_KINDS = ("own", "rebuilt", "sources", "upstream")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class SigningKey:
    name: str
    id: str
    development: bool
    file: Path | None = None  # the public key, for keys whose secret we do not hold (upstream keys)


@dataclass(frozen=True)
class Repository:
    name: str
    path: str
    signed_by: str
    content: str  # own | rebuilt | sources | upstream
    sources: str | None  # for "rebuilt": the repository that receives the SRPMs


@dataclass(frozen=True)
class SrpmOrigin:
    """A third-party source RPM rebuilt as it is: the exact bytes we reviewed, optionally signed."""

    url: str  # http(s):// or file://
    sha256: str
    key: str | None  # a layout key (with a public key file) that must have signed it


@dataclass(frozen=True)
class PackageEntry:
    name: str
    git: str | None  # absolute path or URL; None for a package built from an SRPM
    ref: str
    subdir: str | None
    spec: str | None
    repository: str
    dist: str
    mock_chroot: str
    allow_downgrade_to: str | None = None  # the one EVR this package may go down to, named on purpose
    downgrade_reason: str | None = None  # why, for the release notes
    srpm: SrpmOrigin | None = None  # exclusive with git


@dataclass(frozen=True)
class Upstream:
    """Third-party packages imported as they are, with their upstream signature."""

    name: str
    url: str  # http(s):// or file:// of a yum repository
    key: str  # the layout key that must have signed every package
    repository: str
    pins: tuple[Pin, ...]
    allow_downgrade: tuple[Pin, ...] = ()  # "name = EVR": the versions that may go down
    downgrade_reason: str | None = None  # why, for the release notes


@dataclass(frozen=True)
class ReleaseLayout:
    file: Path
    name: str
    version: str
    dist: str
    mock_chroot: str
    macro_files: tuple[Path, ...]
    templates: Path
    keys: dict[str, SigningKey]
    repositories: dict[str, Repository]
    packages: dict[str, PackageEntry]
    upstreams: dict[str, Upstream]
    target_rpm: str | None = None  # the rpm version of the target (EL6: "4.8"): what its packages may need
    lookaside: str | None = None  # base URL of the lookaside cache for files listed in a `sources` file
    # `priority=` of every section of altai.repo: dnf (and yum with yum-plugin-priorities) then never
    # takes a package of the same name from another repository, so a deliberate downgrade stays held
    priority: int = 10
    koji: KojiSettings | None = None  # the hub and target of --builder koji
    sandbox: SandboxLimits = DEFAULT_LIMITS  # what a spec's sandboxed step may use
    downloads: DownloadLimits = DEFAULT_DOWNLOAD_LIMITS  # what one download may take
    mock_configdir: Path = Path("/etc/mock")  # where mock's own configs are (mock --configdir)
    metadata_expire: str = "1h"  # altai.repo's: how long hosts trust fetched metadata (90m, 6h, never)

    def package(self, name: str) -> PackageEntry:
        try:
            return self.packages[name]
        except KeyError:
            known = ", ".join(sorted(self.packages)) or "none"
            raise InputError(f"unknown package {name!r} (the release {self.file.name} has: {known})") from None

    def key_for(self, repository: str) -> SigningKey:
        return self.keys[self.repositories[repository].signed_by]

    def repository_for(self, repository: str, arch: str) -> str:
        """Where a file of a package built for `repository` goes: its SRPM to the sources repository."""
        sources = self.repositories[repository].sources
        return sources if arch == "src" and sources else repository


def load_layout(file: Path = DEFAULT_LAYOUT) -> ReleaseLayout:
    file = file.absolute()
    from .userfiles import MIB, read_bytes

    raw = read_bytes(file, "release layout", 4 * MIB)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: not UTF-8 text (byte {exc.start}): a layout is TOML, which is UTF-8") from exc
    except RecursionError:
        raise InputError(f"{file}: not valid TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{file}: not valid TOML: {exc}") from exc
    r = TomlReader(file)
    base = file.parent
    r.check_keys(
        data, "(top)", {"release", "keys", "repositories", "packages", "upstreams", "koji", "sandbox", "downloads"}
    )
    release = r.table(data, "release")
    r.check_keys(
        release,
        "release",
        {
            "name",
            "version",
            "dist",
            "mock_chroot",
            "mock_configdir",
            "macros",
            "templates",
            "priority",
            "lookaside",
            "target_rpm",
            "metadata_expire",
        },
    )
    dist = r.string(data, "release.dist", default="")
    chroot = r.string(data, "release.mock_chroot")
    macro_files = []
    for i, rel in enumerate(r.strings(data, "release.macros")):
        path = (base / rel).resolve()
        if not path.is_file():
            raise r.fail(f"release.macros[{i}]", f"macro file {path} does not exist")
        macro_files.append(path)

    keys: dict[str, SigningKey] = {}
    for name in r.table(data, "keys"):
        key = f"keys.{quoted(name)}"
        r.table(data, key)
        r.check_keys(data["keys"][name], key, {"id", "development", "file"})
        key_file = r.optional_string(data, f"{key}.file")
        key_path = (base / key_file).resolve() if key_file else None
        if key_path is not None and not key_path.is_file():
            raise r.fail(f"{key}.file", f"public key file {key_path} does not exist")
        keys[name] = SigningKey(
            name, r.string(data, f"{key}.id"), r.boolean(data, f"{key}.development", False), key_path
        )

    repositories: dict[str, Repository] = {}
    for name in r.table(data, "repositories"):
        key = f"repositories.{quoted(name)}"
        r.table(data, key)
        r.check_keys(data["repositories"][name], key, {"path", "signed_by", "content", "sources"})
        tree_path = r.string(data, f"{key}.path")
        if tree_path.startswith(("/", "-")) or ".." in Path(tree_path).parts:
            raise r.fail(f"{key}.path", f"expected a relative path inside the release tree, found {tree_path!r}")
        signed_by = r.string(data, f"{key}.signed_by")
        if signed_by not in keys:
            raise r.fail(f"{key}.signed_by", f"{signed_by!r} is not a key (known: {', '.join(sorted(keys))})")
        content = r.string(data, f"{key}.content")
        if content not in CONTENT_KINDS:
            raise r.fail(f"{key}.content", f"expected one of {', '.join(CONTENT_KINDS)}, found {content!r}")
        repositories[name] = Repository(name, tree_path, signed_by, content, r.optional_string(data, f"{key}.sources"))
    by_path: dict[str, str] = {}
    for repo in repositories.values():
        normal = str(Path(repo.path))
        if normal in by_path:
            raise r.fail(
                f"repositories.{quoted(repo.name)}.path",
                f"{repo.path!r} is already the path of "
                f"repository {by_path[normal]!r}: each repository needs a directory of its own",
            )
        by_path[normal] = repo.name
    for repo in repositories.values():
        sources_repo = repositories.get(repo.sources) if repo.sources else None
        if (repo.content == "rebuilt" or repo.sources) and (sources_repo is None or sources_repo.content != "sources"):
            raise r.fail(
                f"repositories.{quoted(repo.name)}.sources",
                "expected the name of the repository (content = "
                f'"sources") that receives this repository\'s SRPMs, found {repo.sources!r}',
            )

    packages: dict[str, PackageEntry] = {}
    for name in r.table(data, "packages", required=False):
        packages[name] = _read_package(r, data, name, base, keys, repositories, dist, chroot)
    upstreams = _read_upstreams(r, data, keys, repositories)
    templates = (base / r.string(data, "release.templates", default="templates")).resolve()
    return ReleaseLayout(
        file=file,
        name=r.string(data, "release.name"),
        version=r.string(data, "release.version"),
        dist=dist,
        mock_chroot=chroot,
        macro_files=tuple(macro_files),
        templates=templates,
        keys=keys,
        repositories=repositories,
        packages=packages,
        upstreams=upstreams,
        priority=r.integer(data, "release.priority", 10, 1, 99),
        lookaside=r.optional_string(data, "release.lookaside"),
        target_rpm=_target_rpm(r, data),
        koji=read_koji(r, data, base),
        sandbox=read_limits(r, data),
        downloads=read_download_limits(r, data),
        mock_configdir=(base / r.string(data, "release.mock_configdir", default="/etc/mock")).resolve(),
        metadata_expire=_metadata_expire(r, data),
    )


def _metadata_expire(r: TomlReader, data: dict[str, Any]) -> str:
    value = r.string(data, "release.metadata_expire", default="1h")
    if not re.match(r"^(\d+[smhd]?|never)$", value):
        expected = 'expected seconds, or a number with s, m, h or d, or "never"'
        raise r.fail("release.metadata_expire", f"{expected}, found {value!r}")
    return value


def _target_rpm(r: TomlReader, data: dict[str, Any]) -> str | None:
    value = r.optional_string(data, "release.target_rpm")
    if value is not None and not re.match(r"^\d+(\.\d+){1,2}$", value):
        raise r.fail("release.target_rpm", f'expected an rpm version like "4.8", found {value!r}')
    return value


_PACKAGE_KEYS = {"repository", "dist", "mock_chroot", "allow_downgrade_to", "downgrade_reason"}
_GIT_KEYS = {"git", "ref", "subdir", "spec"}
_SRPM_KEYS = {"srpm", "sha256", "key"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _read_package(
    r: TomlReader,
    data: dict[str, Any],
    name: str,
    base: Path,
    keys: dict[str, SigningKey],
    repositories: dict[str, Repository],
    dist: str,
    chroot: str,
) -> PackageEntry:
    key = f"packages.{quoted(name)}"
    if not _NAME_RE.match(name):
        raise r.fail(key, "expected a package name of letters, digits and ._+-")
    table = r.table(data, key)
    r.check_keys(table, key, _PACKAGE_KEYS | _GIT_KEYS | _SRPM_KEYS)
    has_git, has_srpm = "git" in table, "srpm" in table
    if has_git == has_srpm:
        raise r.fail(key, "expected exactly one of git (a repository with a spec) or srpm (a source RPM)")
    r.check_keys(table, key, _PACKAGE_KEYS | (_GIT_KEYS if has_git else _SRPM_KEYS))
    repository = r.string(data, f"{key}.repository")
    kinds = ("own", "rebuilt") if has_git else ("rebuilt",)
    if repository not in repositories or repositories[repository].content not in kinds:
        buildable = [n for n, repo in repositories.items() if repo.content in kinds]
        what = "built packages" if has_git else 'rebuilt third-party packages (content = "rebuilt")'
        raise r.fail(
            f"{key}.repository", f"{repository!r} is not a repository of {what} (known: {', '.join(buildable)})"
        )
    git, srpm = None, None
    if has_git:
        git = r.string(data, f"{key}.git")
        if git.startswith("-"):
            raise r.fail(f"{key}.git", f"expected a path or URL, found {git!r}")
        if not is_git_url(git):
            git = str((base / git).resolve())
    else:
        location = r.string(data, f"{key}.srpm")
        if location.startswith("-"):
            raise r.fail(f"{key}.srpm", f"expected a URL or a path, found {location!r}")
        if not location.startswith(("http://", "https://", "file://")):
            if "://" in location:
                raise r.fail(f"{key}.srpm", f"expected an http(s):// or file:// URL or a path, found {location!r}")
            location = (base / location).resolve().as_uri()
        digest = r.string(data, f"{key}.sha256").lower()
        if not _SHA256.match(digest):
            raise r.fail(f"{key}.sha256", "expected the 64 hex digits of the SRPM's SHA-256")
        srpm_key = r.optional_string(data, f"{key}.key")
        if srpm_key is not None and (srpm_key not in keys or keys[srpm_key].file is None):
            with_files = [k for k, v in keys.items() if v.file is not None]
            raise r.fail(
                f"{key}.key",
                f"{srpm_key!r} is not a key with a public key file (known: {', '.join(with_files) or 'none'})",
            )
        srpm = SrpmOrigin(location, digest, srpm_key)
    return PackageEntry(
        name=name,
        git=git,
        ref=r.string(data, f"{key}.ref", default="HEAD") if has_git else "",
        subdir=r.optional_string(data, f"{key}.subdir"),
        spec=r.optional_string(data, f"{key}.spec"),
        repository=repository,
        dist=r.string(data, f"{key}.dist", default=dist) if dist else "",
        mock_chroot=r.string(data, f"{key}.mock_chroot", default=chroot),
        allow_downgrade_to=r.optional_string(data, f"{key}.allow_downgrade_to"),
        downgrade_reason=r.optional_string(data, f"{key}.downgrade_reason"),
        srpm=srpm,
    )


def _pin(r: TomlReader, key: str, text: str, need_evr: bool = False) -> Pin:
    pin = parse_pin(text)
    if pin is None or not _NAME_RE.match(pin.name) or (need_evr and pin.evr is None):
        form = "'NAME = VERSION-RELEASE'" if need_evr else "'NAME' or 'NAME = VERSION-RELEASE'"
        raise r.fail(key, f"expected {form}, found {text!r}")
    return pin


def _read_upstreams(
    r: TomlReader, data: dict[str, Any], keys: dict[str, SigningKey], repositories: dict[str, Repository]
) -> dict[str, Upstream]:
    upstreams: dict[str, Upstream] = {}
    for name in r.table(data, "upstreams", required=False):
        key = f"upstreams.{quoted(name)}"
        r.table(data, key)
        allowed = {"url", "key", "repository", "packages", "allow_downgrade", "downgrade_reason"}
        r.check_keys(data["upstreams"][name], key, allowed)
        url = r.string(data, f"{key}.url")
        if not url.startswith(("http://", "https://", "file://")):
            raise r.fail(f"{key}.url", f"expected an http://, https:// or file:// URL, found {url!r}")
        key_name = r.string(data, f"{key}.key")
        if key_name not in keys or keys[key_name].file is None:
            with_files = [k for k, v in keys.items() if v.file is not None]
            raise r.fail(
                f"{key}.key",
                f"{key_name!r} is not a key with a public key file (known: {', '.join(with_files) or 'none'})",
            )
        repository = r.string(data, f"{key}.repository")
        if repository not in repositories or repositories[repository].content != "upstream":
            known = [n for n, repo in repositories.items() if repo.content == "upstream"]
            raise r.fail(
                f"{key}.repository",
                f"{repository!r} is not a repository of upstream packages (known: {', '.join(known)})",
            )
        if repositories[repository].signed_by != key_name:
            raise r.fail(
                f"{key}.key",
                f"repository {repository!r} is signed by {repositories[repository].signed_by!r}, not {key_name!r}",
            )
        pins = tuple(_pin(r, f"{key}.packages[{i}]", p) for i, p in enumerate(r.strings(data, f"{key}.packages")))
        if not pins:
            raise r.fail(f"{key}.packages", "expected at least one package to import")
        downgrades = tuple(
            _pin(r, f"{key}.allow_downgrade[{i}]", p, need_evr=True)
            for i, p in enumerate(r.strings(data, f"{key}.allow_downgrade"))
        )
        reason = r.optional_string(data, f"{key}.downgrade_reason")
        upstreams[name] = Upstream(name, url, key_name, repository, pins, downgrades, reason)
    return upstreams
