"""Reading a TOML document key by key, with errors that name the file, the key (as TOML writes it, quoted
where needed) and what was expected."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from altai_release.core.errors import InputError


class TomlReader:
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

    def matching(
        self, data: dict[str, Any], key: str, pattern: re.Pattern[str], expected: str, default: str | None = None
    ) -> str:
        """A string that the whole of `pattern` matches (a name that reaches a spec, a path or a command)."""
        value = self.string(data, key, default)
        if value != default and not pattern.fullmatch(value):
            raise self.fail(key, f"expected {expected}, found {value!r}")
        return value

    def optional_string(self, data: dict[str, Any], key: str) -> str | None:
        return None if _lookup(data, key) is None else self.string(data, key)

    def integer(self, data: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
        value = _lookup(data, key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(key, f"expected an integer from {low} to {high}, found {_describe(value)}")
        return value

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
                raise self.fail(f"{prefix}.{quoted(key)}", f"unknown key (allowed: {', '.join(sorted(allowed))}){hint}")


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_KEY_PART = re.compile(r'"(?:[^"\\]|\\.)*"|[^.]+')


def quoted(name: str) -> str:
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
