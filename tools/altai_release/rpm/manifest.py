"""manifest.json: every package of a release (`manifestdiff` compares two)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any

from altai_release.core.errors import InputError
from altai_release.rpm.nevra import Nevra

MANIFEST_NAME = "manifest.json"
FORMAT = 1
MAX_MANIFEST_BYTES = 32 * 1024 * 1024  # ~25,000 packages (1.2 KiB each); parsed, ~260 MiB at most (userfiles)


@dataclass(frozen=True)
class ManifestEntry:
    repository: str  # the layout's repository name
    path: str  # relative to the release root
    origin: str  # the layout package or upstream pin that put it there
    name: str
    epoch: int | None
    version: str
    release: str
    arch: str
    sha256: str  # of the file
    header_sha256: str  # of the unsigned header: equal for a rebuild of the same inputs
    signer: str  # the layout's key name
    signer_keyid: str
    downgraded_from: str | None = None
    downgrade_reason: str | None = None  # the layout's word for a deliberate downgrade
    # where the package was made from: {"kind": "git", "url", "commit"} or {"kind": "srpm", "url", "sha256",
    # "signer_keyid"}; None for upstream binaries (their origin names the upstream)
    source: dict[str, str] | None = None
    # who built it (BuildOutput.facts): {"builder": local | mock | koji, ...}; None for upstream binaries
    build: dict[str, str] | None = None
    # what its build root held (a binary we built): [{"nevra", "digest", "repository"}, ...]
    build_root: list[dict[str, str]] | None = None
    # a dependent rebuilt, its own sources unchanged, for packages of the release that changed: which
    rebuilt_for: str | None = None

    @property
    def nevra(self) -> Nevra:
        return Nevra(self.name, self.epoch, self.version, self.release, self.arch)


@dataclass
class Manifest:
    release: str
    version: str
    entries: list[ManifestEntry] = field(default_factory=list)
    # which release of the store this is and when it was published: tells apart two releases of one version
    id: str | None = None
    published: str | None = None  # UTC, ISO 8601
    # what the release says about itself: {"sbom": PATH, "provenance": {package path: statement path}}
    attestations: dict[str, Any] | None = None

    def same_as(self, other: Manifest) -> bool:
        """Whether the two describe the same packages of the same release (id and time aside)."""
        mine, theirs = sorted(self.entries, key=_path), sorted(other.entries, key=_path)
        return (self.release, self.version, mine) == (other.release, other.version, theirs)

    def to_json(self) -> str:
        data: dict[str, Any] = {"format": FORMAT, "release": self.release, "version": self.version}
        data.update({k: v for k, v in (("id", self.id), ("published", self.published)) if v is not None})
        if self.attestations is not None:
            data["attestations"] = self.attestations
        data["packages"] = [asdict(e) for e in sorted(self.entries, key=lambda e: e.path)]
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @classmethod
    def load(cls, path: Path) -> Manifest:
        from altai_release.core.userfiles import read_json

        data: Any = read_json(path, "release manifest", MAX_MANIFEST_BYTES)
        return cls._validated(path, data)

    @classmethod
    def from_bytes(cls, data: bytes, path: Path) -> Manifest:
        """A manifest read by the caller (a release tree's, taken without following a link); `path` names it."""
        from altai_release.core.userfiles import parse_json

        return cls._validated(path, parse_json(data, path, "release manifest"))

    @classmethod
    def _validated(cls, path: Path, data: Any) -> Manifest:
        """Every field of the expected type: a manifest is read from a published tree or a file the user
        names, and a wrong value must be reported here, not as a traceback deep in a comparison."""
        bad = _complaint(path)
        if not isinstance(data, dict):
            raise bad("(top)", "an object", data)
        for key in ("release", "version"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise bad(key, "a non-empty string", data.get(key))
        for key in ("id", "published"):
            if data.get(key) is not None and (not isinstance(data[key], str) or not data[key]):
                raise bad(key, "null or a non-empty string", data[key])
        packages = data.get("packages")
        if not isinstance(packages, list):
            raise bad("packages", "a list", packages)
        entries = [_entry(path, f"packages[{i}]", item) for i, item in enumerate(packages)]
        attestations = data.get("attestations")
        if attestations is not None and not _attestations_ok(attestations):
            raise bad(
                "attestations",
                'null or {"sbom": PATH, "provenance": {PATH: PATH}} (paths in the release)',
                attestations,
            )
        return cls(data["release"], data["version"], entries, data.get("id"), data.get("published"), attestations)


def _inside(path: str) -> bool:
    """A relative path inside the release (the package, its log, its statement): never outside it."""
    parts = PurePosixPath(path).parts
    return not (path.startswith("/") or ".." in parts or "\\" in path or not parts)


def _attestations_ok(value: Any) -> bool:
    """What the notes link and --verify compares: the SBOM's path and each package's statement path."""
    if not isinstance(value, dict) or set(value) != {"sbom", "provenance"}:
        return False
    statements = value["provenance"]
    if not isinstance(statements, dict):
        return False
    return all(isinstance(p, str) and _inside(p) for p in [value["sbom"], *statements, *statements.values()])


def _root_ok(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) <= MAX_ROOT
        and all(
            isinstance(p, dict) and set(p) == _ROOT_KEYS and all(isinstance(v, str) for v in p.values()) for p in value
        )
    )


def _complaint(path: Path) -> Callable[[str, str, object], InputError]:
    def bad(where: str, expected: str, value: object) -> InputError:
        return InputError(f"{path}: {where}: expected {expected}, found {json.dumps(value)}")

    return bad


_OPTIONAL = {"epoch", "downgraded_from", "downgrade_reason", "source", "build", "build_root", "rebuilt_for"}
_ROOT_KEYS = {"nevra", "digest", "repository"}
MAX_ROOT = 5000  # packages of one build root
_SOURCE_FACTS = {"git": ("url", "ref", "commit"), "srpm": ("url", "sha256"), "release": ("sha256",)}
_BUILD_FACTS = {"local": (), "mock": ("chroot", "config_sha256"), "koji": ("hub",), "unknown": ()}


def _entry(path: Path, where: str, item: Any) -> ManifestEntry:  # noqa: C901 (one check per field, in a row)
    bad = _complaint(path)
    if not isinstance(item, dict):
        raise bad(where, "an object", item)
    names = {f.name for f in fields(ManifestEntry)}
    unknown, missing = sorted(set(item) - names), sorted(names - _OPTIONAL - set(item))
    if unknown or missing:
        said = [f"unknown keys {', '.join(unknown)}"] if unknown else []
        said += [f"missing keys {', '.join(missing)}"] if missing else []
        raise InputError(f"{path}: {where}: " + "; ".join(said))
    for key in names - _OPTIONAL - {"signer_keyid"}:
        if not isinstance(item[key], str) or not item[key]:
            raise bad(f"{where}.{key}", "a non-empty string", item[key])
    # the path and the origin name files of the release (the package, its build logs): never outside it
    if not _inside(item["path"]):
        raise bad(f"{where}.path", "a relative path inside the release", item["path"])
    if "/" in item["origin"] or item["origin"] in (".", ".."):
        raise bad(f"{where}.origin", "a package or upstream name", item["origin"])
    if not isinstance(item["signer_keyid"], str):
        raise bad(f"{where}.signer_keyid", "a string", item["signer_keyid"])
    epoch = item.get("epoch")
    if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0):
        raise bad(f"{where}.epoch", "null or an integer >= 0", epoch)
    root = item.get("build_root")
    if root is not None and not _root_ok(root):
        raise bad(f"{where}.build_root", f"null or a list of at most {MAX_ROOT} of nevra, digest, repository", root)
    for key in ("downgraded_from", "downgrade_reason", "rebuilt_for"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise bad(f"{where}.{key}", "null or a string", item[key])
    for key, kinds in (("source", _SOURCE_FACTS), ("build", _BUILD_FACTS)):
        value = item.get(key)
        if value is not None and (not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())):
            raise bad(f"{where}.{key}", "null or an object of strings", value)
        # the SBOM and the provenance statements are made from these: a kind with its facts, or refused here
        kind = value.get("kind" if key == "source" else "builder") if value else None
        if value and (kind not in kinds or not all(value.get(k) for k in kinds[kind])):
            wanted = "; ".join(f"{name}: {', '.join(facts) or '-'}" for name, facts in kinds.items())
            raise bad(f"{where}.{key}", f"a kind and its facts ({wanted})", value)
    return ManifestEntry(**item)


def _path(entry: ManifestEntry) -> str:
    return entry.path
