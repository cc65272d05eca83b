"""[upstreams.NAME]: third-party packages imported as they are, pinned, with their upstream signature."""

from __future__ import annotations

from typing import Any

from altai_release.core.tomlreader import TomlReader, quoted
from altai_release.layout.model import Repository, SigningKey, Upstream, table_keys
from altai_release.layout.package_table import NAME_RE
from altai_release.rpm.evr import Pin, parse_pin


def _pin(r: TomlReader, key: str, text: str, need_evr: bool = False) -> Pin:
    pin = parse_pin(text)
    if pin is None or not NAME_RE.match(pin.name) or (need_evr and pin.evr is None):
        form = "'NAME = VERSION-RELEASE'" if need_evr else "'NAME' or 'NAME = VERSION-RELEASE'"
        raise r.fail(key, f"expected {form}, found {text!r}")
    return pin


def read_upstreams(
    r: TomlReader, data: dict[str, Any], keys: dict[str, SigningKey], repositories: dict[str, Repository]
) -> dict[str, Upstream]:
    upstreams: dict[str, Upstream] = {}
    for name in r.table(data, "upstreams", required=False):
        key = f"upstreams.{quoted(name)}"
        r.table(data, key)
        allowed = table_keys(Upstream, leave_out={"name"}, renamed={"pins": "packages"})
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
