"""Reading the release description (repo-layout/*.toml) into a validated ReleaseLayout, table by table.

Errors name the file, the key and what was expected, e.g.
`repo-layout/altai.toml: packages.nova-fping.repository: 'centos7' is not a repository (known: ...)`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from altai_release.core.errors import InputError
from altai_release.core.limits import read_download_limits, read_limits
from altai_release.core.paths import METADATA_DIR
from altai_release.core.tomlreader import TomlReader, quoted
from altai_release.layout.buildroot_table import read_buildroot
from altai_release.layout.koji_table import read_koji
from altai_release.layout.model import CONTENT_KINDS, PackageEntry, ReleaseLayout, Repository, SigningKey, table_keys
from altai_release.layout.package_table import CHROOT_RE, DIST_EXPECTED, DIST_RE, NAME_RE, read_package
from altai_release.layout.upstreams import read_upstreams

# the tables of a layout; [release] holds ReleaseLayout's own fields, each other table its field of that name
# what reaches a spec (the release package's Name, Version, %{?dist}), a mock config or a path must be plain:
# a newline would add a tag, a %(...) would run, a ../ would leave the work directory
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~^]*")
PATH_RE = re.compile(r"[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*")
RESERVED_TOP = {"logs", METADATA_DIR, "repodata"}

_FINGERPRINT = re.compile(r"[0-9A-F]{40}")
_TABLES = {"release", "keys", "repositories", "packages", "upstreams", "koji", "sandbox", "downloads", "buildroot"}
_RELEASE_KEYS = table_keys(ReleaseLayout, leave_out={"file", *_TABLES}, renamed={"macro_files": "macros"})


def load_layout(file: Path) -> ReleaseLayout:
    file = file.absolute()
    data = _parse(file)
    r = TomlReader(file)
    base = file.parent
    r.check_keys(data, "(top)", _TABLES)
    r.check_keys(r.table(data, "release"), "release", _RELEASE_KEYS)
    dist = r.matching(data, "release.dist", DIST_RE, DIST_EXPECTED, default="")
    chroot = r.matching(data, "release.mock_chroot", CHROOT_RE, "a mock chroot name of letters, digits and ._+-")
    keys = _keys(r, data, base)
    repositories = _repositories(r, data, keys)
    packages: dict[str, PackageEntry] = {}
    for name in r.table(data, "packages", required=False):
        packages[name] = read_package(r, data, name, base, keys, repositories, dist, chroot)
    _add_release_package(r, data, packages, repositories, dist, chroot)
    return ReleaseLayout(
        file=file,
        name=r.matching(data, "release.name", NAME_RE, "a package name of letters, digits and ._+- (rpm's)"),
        version=r.matching(data, "release.version", VERSION_RE, "a version of letters, digits and ._+~^ (rpm's)"),
        dist=dist,
        mock_chroot=chroot,
        macro_files=_macro_files(r, data, base),
        templates=(base / r.string(data, "release.templates", default="templates")).resolve(),
        keys=keys,
        repositories=repositories,
        packages=packages,
        upstreams=read_upstreams(r, data, keys, repositories),
        priority=r.integer(data, "release.priority", 10, 1, 99),
        lookaside=r.optional_string(data, "release.lookaside"),
        target_rpm=_target_rpm(r, data),
        koji=read_koji(r, data, base),
        sandbox=read_limits(r, data),
        downloads=read_download_limits(r, data),
        mock_configdir=_mock_configdir(r, data, base),
        buildroot=read_buildroot(r, data),
        metadata_expire=_metadata_expire(r, data),
        metadata_key=_metadata_key(r, data, keys),
        release_package=r.boolean(data, "release.release_package", False),
    )


def _parse(file: Path) -> dict[str, Any]:
    from altai_release.core.userfiles import MIB, read_bytes

    raw = read_bytes(file, "release layout", 4 * MIB)
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: not UTF-8 text (byte {exc.start}): a layout is TOML, which is UTF-8") from exc
    except RecursionError:
        raise InputError(f"{file}: not valid TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{file}: not valid TOML: {exc}") from exc


def _macro_files(r: TomlReader, data: dict[str, Any], base: Path) -> tuple[Path, ...]:
    macro_files = []
    for i, rel in enumerate(r.strings(data, "release.macros")):
        path = (base / rel).resolve()
        if not path.is_file():
            raise r.fail(f"release.macros[{i}]", f"macro file {path} does not exist")
        macro_files.append(path)
    return tuple(macro_files)


def _keys(r: TomlReader, data: dict[str, Any], base: Path) -> dict[str, SigningKey]:
    keys: dict[str, SigningKey] = {}
    for name in r.table(data, "keys"):
        key = f"keys.{quoted(name)}"
        r.table(data, key)
        r.check_keys(data["keys"][name], key, table_keys(SigningKey, leave_out={"name"}))
        key_file = r.optional_string(data, f"{key}.file")
        key_path = (base / key_file).resolve() if key_file else None
        if key_path is not None and not key_path.is_file():
            raise r.fail(f"{key}.file", f"public key file {key_path} does not exist")
        previous = tuple(p.upper() for p in r.strings(data, f"{key}.previous"))
        for i, fingerprint in enumerate(previous):
            if not _FINGERPRINT.fullmatch(fingerprint):
                expected = f"expected a key's fingerprint (40 hex digits), found {fingerprint!r}"
                raise r.fail(f"{key}.previous[{i}]", expected)
        development = r.boolean(data, f"{key}.development", False)
        keys[name] = SigningKey(name, r.string(data, f"{key}.id"), development, key_path, previous)
    return keys


def _repository(r: TomlReader, data: dict[str, Any], name: str, keys: dict[str, SigningKey]) -> Repository:
    key = f"repositories.{quoted(name)}"
    r.table(data, key)
    r.check_keys(data["repositories"][name], key, table_keys(Repository, leave_out={"name"}))
    tree_path = r.string(data, f"{key}.path")
    parts = tree_path.split("/")
    if tree_path.startswith(("/", "-")) or any(p in ("", ".", "..") for p in parts) or "\\" in tree_path:
        raise r.fail(f"{key}.path", f"expected a relative path inside the release tree, found {tree_path!r}")
    if parts[0] in RESERVED_TOP or "repodata" in parts or not PATH_RE.fullmatch(tree_path):
        raise r.fail(
            f"{key}.path",
            f"{tree_path!r} is not a repository's path: logs/, metadata/ and repodata are the tree's own "
            "and a path is letters, digits and ._+-/",
        )
    signed_by = r.string(data, f"{key}.signed_by")
    if signed_by not in keys:
        raise r.fail(f"{key}.signed_by", f"{signed_by!r} is not a key (known: {', '.join(sorted(keys))})")
    content = r.string(data, f"{key}.content")
    if content not in CONTENT_KINDS:
        raise r.fail(f"{key}.content", f"expected one of {', '.join(CONTENT_KINDS)}, found {content!r}")
    return Repository(name, tree_path, signed_by, content, r.optional_string(data, f"{key}.sources"))


def _repositories(r: TomlReader, data: dict[str, Any], keys: dict[str, SigningKey]) -> dict[str, Repository]:
    repositories = {name: _repository(r, data, name, keys) for name in r.table(data, "repositories")}
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
    return repositories


def _add_release_package(
    r: TomlReader,
    data: dict[str, Any],
    packages: dict[str, PackageEntry],
    repositories: dict[str, Repository],
    dist: str,
    chroot: str,
) -> None:
    if not r.boolean(data, "release.release_package", False):
        return
    own = next((n for n, repo in repositories.items() if repo.content == "own"), None)
    if own is None:
        raise r.fail("release.release_package", 'needs a repository of our own packages (content = "own")')
    name = f"{r.string(data, 'release.name')}-release"
    if name in packages:
        raise r.fail(f"packages.{quoted(name)}", "is the name of the release package ([release] release_package)")
    packages[name] = PackageEntry(name, None, "", None, None, own, dist, chroot, generated=True)


def _metadata_key(r: TomlReader, data: dict[str, Any], keys: dict[str, SigningKey]) -> str | None:
    name = r.optional_string(data, "release.metadata_key")
    if name is not None and (name not in keys or keys[name].file is not None):
        ours = [k for k, v in keys.items() if v.file is None]
        raise r.fail("release.metadata_key", f"{name!r} is not a key we sign with (known: {', '.join(ours)})")
    return name


def _mock_configdir(r: TomlReader, data: dict[str, Any], base: Path) -> Path | None:
    configdir = r.optional_string(data, "release.mock_configdir")
    return (base / configdir).resolve() if configdir else None


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
