"""The release description (repo-layout/*.toml) as a typed, validated ReleaseLayout.

Errors name the file, the key and what was expected, e.g.
`repo-layout/altai.toml: packages.nova-fping.repository: 'centos7' is not a repository (known: ...)`.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .evr import Pin, parse_pin
from .paths import is_git_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_LAYOUT = PROJECT_ROOT / "repo-layout" / "altai.toml"
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
class PackageEntry:
    name: str
    git: str  # absolute path or URL
    ref: str
    subdir: str | None
    spec: str | None
    repository: str
    dist: str
    mock_chroot: str
    allow_downgrade_to: str | None = None  # the one EVR this package may go down to, named on purpose


@dataclass(frozen=True)
class Upstream:
    """Third-party packages imported as they are, with their upstream signature."""

    name: str
    url: str  # http(s):// or file:// of a yum repository
    key: str  # the layout key that must have signed every package
    repository: str
    pins: tuple[Pin, ...]
    allow_downgrade: tuple[Pin, ...] = ()  # "name = EVR": the versions that may go down


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

    def package(self, name: str) -> PackageEntry:
        try:
            return self.packages[name]
        except KeyError:
            known = ", ".join(sorted(self.packages)) or "none"
            raise InputError(f"unknown package {name!r} (the release {self.file.name} has: {known})") from None

    def key_for(self, repository: str) -> SigningKey:
        return self.keys[self.repositories[repository].signed_by]


class _Reader:
    def __init__(self, file: Path) -> None:
        self.file = file

    def fail(self, key: str, expected: str) -> InputError:
        return InputError(f"{self.file}: {key}: {expected}")

    def table(self, data: dict[str, Any], key: str, required: bool = True) -> dict[str, Any]:
        value = _lookup(data, key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table" + ("" if value is not None else ", found nothing"))
        return value

    def string(self, data: dict[str, Any], key: str, default: str | None = None) -> str:
        value = _lookup(data, key)
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, found {_describe(value)}")
        return value

    def optional_string(self, data: dict[str, Any], key: str) -> str | None:
        return None if _lookup(data, key) is None else self.string(data, key)

    def boolean(self, data: dict[str, Any], key: str, default: bool) -> bool:
        value = _lookup(data, key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, found {_describe(value)}")
        return value

    def strings(self, data: dict[str, Any], key: str) -> list[str]:
        value = _lookup(data, key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a list of strings, found {_describe(value)}")
        return value

    def check_keys(self, data: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                hint = ""
                if isinstance(data[key], dict) and "." in prefix:
                    # [packages.probe.pk] is the table pk inside the table probe: TOML reads dots as nesting
                    table, _, name = prefix.rpartition(".")
                    dotted = json.dumps(f"{name.strip(chr(34))}.{key}")
                    hint = f"; a name with a dot must be quoted: [{table}.{dotted}]"
                raise self.fail(f"{prefix}.{_quoted(key)}",
                                f"unknown key (allowed: {', '.join(sorted(allowed))}){hint}")  # fmt: skip


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_KEY_PART = re.compile(r'"(?:[^"\\]|\\.)*"|[^.]+')


def _quoted(name: str) -> str:
    """A table name as TOML writes it in a dotted key: quoted when it holds a dot or other punctuation."""
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _lookup(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for token in _KEY_PART.findall(dotted):
        part = json.loads(token) if token.startswith('"') else token
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _describe(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def load_layout(file: Path = DEFAULT_LAYOUT) -> ReleaseLayout:
    file = file.absolute()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: not UTF-8 text (byte {exc.start}): a layout is TOML, which is UTF-8") from exc
    except FileNotFoundError:
        raise InputError(f"{file}: release layout not found") from None
    except OSError as exc:
        raise InputError(f"{file}: cannot read the release layout: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{file}: not valid TOML: {exc}") from exc
    r = _Reader(file)
    base = file.parent
    r.check_keys(data, "(top)", {"release", "keys", "repositories", "packages", "upstreams"})
    release = r.table(data, "release")
    r.check_keys(release, "release", {"name", "version", "dist", "mock_chroot", "macros", "templates"})
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
        key = f"keys.{_quoted(name)}"
        r.table(data, key)
        r.check_keys(data["keys"][name], key, {"id", "development", "file"})
        key_file = r.optional_string(data, f"{key}.file")
        key_path = (base / key_file).resolve() if key_file else None
        if key_path is not None and not key_path.is_file():
            raise r.fail(f"{key}.file", f"public key file {key_path} does not exist")
        keys[name] = SigningKey(name, r.string(data, f"{key}.id"), r.boolean(data, f"{key}.development", False),
                                key_path)  # fmt: skip

    repositories: dict[str, Repository] = {}
    for name in r.table(data, "repositories"):
        key = f"repositories.{_quoted(name)}"
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
            raise r.fail(f"repositories.{_quoted(repo.name)}.path", f"{repo.path!r} is already the path of "
                         f"repository {by_path[normal]!r}: each repository needs a directory of its own")  # fmt: skip
        by_path[normal] = repo.name
    for repo in repositories.values():
        sources_repo = repositories.get(repo.sources) if repo.sources else None
        if (repo.content == "rebuilt" or repo.sources) and (sources_repo is None or sources_repo.content != "sources"):
            raise r.fail(f"repositories.{_quoted(repo.name)}.sources", "expected the name of the repository (content = "
                         f"\"sources\") that receives this repository's SRPMs, found {repo.sources!r}")  # fmt: skip

    packages: dict[str, PackageEntry] = {}
    for name in r.table(data, "packages", required=False):
        key = f"packages.{_quoted(name)}"
        if not _NAME_RE.match(name):
            raise r.fail(key, "expected a package name of letters, digits and ._+-")
        r.table(data, key)
        allowed = {"git", "ref", "subdir", "spec", "repository", "dist", "mock_chroot", "allow_downgrade_to"}
        r.check_keys(data["packages"][name], key, allowed)
        git = r.string(data, f"{key}.git")
        if git.startswith("-"):
            raise r.fail(f"{key}.git", f"expected a path or URL, found {git!r}")
        if not is_git_url(git):
            git = str((base / git).resolve())
        repository = r.string(data, f"{key}.repository")
        if repository not in repositories or repositories[repository].content not in ("own", "rebuilt"):
            buildable = [n for n, repo in repositories.items() if repo.content in ("own", "rebuilt")]
            raise r.fail(f"{key}.repository", f"{repository!r} is not a repository of built packages "
                         f"(known: {', '.join(buildable)})")  # fmt: skip
        packages[name] = PackageEntry(
            name=name, git=git, ref=r.string(data, f"{key}.ref", default="HEAD"),
            subdir=r.optional_string(data, f"{key}.subdir"), spec=r.optional_string(data, f"{key}.spec"),
            repository=repository, dist=r.string(data, f"{key}.dist", default=dist) if dist else "",
            mock_chroot=r.string(data, f"{key}.mock_chroot", default=chroot),
            allow_downgrade_to=r.optional_string(data, f"{key}.allow_downgrade_to"),
        )  # fmt: skip
    upstreams = _read_upstreams(r, data, keys, repositories)
    templates = (base / r.string(data, "release.templates", default="templates")).resolve()
    return ReleaseLayout(
        file=file, name=r.string(data, "release.name"), version=r.string(data, "release.version"),
        dist=dist, mock_chroot=chroot, macro_files=tuple(macro_files), templates=templates,
        keys=keys, repositories=repositories, packages=packages, upstreams=upstreams,
    )  # fmt: skip


def _pin(r: _Reader, key: str, text: str, need_evr: bool = False) -> Pin:
    pin = parse_pin(text)
    if pin is None or not _NAME_RE.match(pin.name) or (need_evr and pin.evr is None):
        form = "'NAME = VERSION-RELEASE'" if need_evr else "'NAME' or 'NAME = VERSION-RELEASE'"
        raise r.fail(key, f"expected {form}, found {text!r}")
    return pin


def _read_upstreams(r: _Reader, data: dict[str, Any], keys: dict[str, SigningKey],
                    repositories: dict[str, Repository]) -> dict[str, Upstream]:  # fmt: skip
    upstreams: dict[str, Upstream] = {}
    for name in r.table(data, "upstreams", required=False):
        key = f"upstreams.{_quoted(name)}"
        r.table(data, key)
        r.check_keys(data["upstreams"][name], key, {"url", "key", "repository", "packages", "allow_downgrade"})
        url = r.string(data, f"{key}.url")
        if not url.startswith(("http://", "https://", "file://")):
            raise r.fail(f"{key}.url", f"expected an http://, https:// or file:// URL, found {url!r}")
        key_name = r.string(data, f"{key}.key")
        if key_name not in keys or keys[key_name].file is None:
            with_files = [k for k, v in keys.items() if v.file is not None]
            raise r.fail(f"{key}.key", f"{key_name!r} is not a key with a public key file "
                         f"(known: {', '.join(with_files) or 'none'})")  # fmt: skip
        repository = r.string(data, f"{key}.repository")
        if repository not in repositories or repositories[repository].content != "upstream":
            known = [n for n, repo in repositories.items() if repo.content == "upstream"]
            raise r.fail(f"{key}.repository", f"{repository!r} is not a repository of upstream packages "
                         f"(known: {', '.join(known)})")  # fmt: skip
        if repositories[repository].signed_by != key_name:
            raise r.fail(f"{key}.key", f"repository {repository!r} is signed by "
                         f"{repositories[repository].signed_by!r}, not {key_name!r}")  # fmt: skip
        pins = tuple(_pin(r, f"{key}.packages[{i}]", p) for i, p in enumerate(r.strings(data, f"{key}.packages")))
        if not pins:
            raise r.fail(f"{key}.packages", "expected at least one package to import")
        downgrades = tuple(_pin(r, f"{key}.allow_downgrade[{i}]", p, need_evr=True)
                           for i, p in enumerate(r.strings(data, f"{key}.allow_downgrade")))  # fmt: skip
        upstreams[name] = Upstream(name, url, key_name, repository, pins, downgrades)
    return upstreams
