"""gitattributes as `git archive` reads them for the tree it packs: `.gitattributes` files of the commit
(from the root down) and `$GIT_DIR/info/attributes` above them; patterns as gitattributes(5) has them
(gitignore's, without negation; a pattern that ends with a slash matches a directory only; a pattern in
double quotes is C-quoted: `"sp ace/f"`, `"\\141bc"`), matched by git's own wildmatch (`wildmatch`), never by
a regex translation that can backtrack for ever; macro attributes (`[attr]NAME ...`, in the top-level file
or info/attributes only, and git's builtin `binary`) expand where they are set. A path's attributes are
found as git's attr.c finds them: from the most specific line back, the first word on an attribute wins,
and a macro set there fills in what is still unknown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from altai_release.git.wildmatch import wildmatch

Value = bool | str
Setting = tuple[str, Value | None]  # None: unspecified (`!attr`)
MAX_LINE = 2048  # git ignores a longer attributes line (ATTR_MAX_LINE_LENGTH), and so do we
MAX_MACRO_DEPTH = 32  # a macro naming itself, or a chain of them, ends here
_BUILTIN_MACROS = {"binary": (("diff", False), ("merge", False), ("text", False))}
_BLANK = " \t\r\n"  # what git's attr.c splits a line on (not every Unicode space)
_WORD = re.compile(f"([^{_BLANK}]*)(.*)", re.DOTALL)
_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}


@dataclass(frozen=True)
class _Rule:
    base: PurePosixPath  # the directory of the .gitattributes file, relative to the repository's root
    pattern: bytes
    basename_only: bool  # a pattern without a slash matches a name at any depth below `base`
    directory_only: bool  # a pattern that ends with a slash
    attributes: tuple[Setting, ...]
    macro: str | None = None  # `[attr]NAME`: a macro's definition, which matches no path


def _unquote(text: str) -> tuple[str, str] | None:
    """A C-quoted pattern at the start of `text` (as git's unquote_c_style) and what follows it; None when
    the quoting is broken (git then reads the line as if it were not quoted)."""
    out, i = bytearray(), 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return out.decode("utf-8", "surrogateescape"), text[i + 1 :]
        if char != "\\":
            out += char.encode("utf-8", "surrogateescape")
            i += 1
            continue
        escape = text[i + 1 : i + 2]
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            i += 2
        elif len(text) >= i + 4 and all(c in "01234567" for c in text[i + 1 : i + 4]) and text[i + 1] in "0123":
            out.append(int(text[i + 1 : i + 4], 8))
            i += 4
        else:
            return None
    return None


def _settings(fields: list[str]) -> tuple[Setting, ...]:
    settings: list[Setting] = []
    for field in fields:
        if field.startswith("-"):
            settings.append((field[1:], False))
        elif field.startswith("!"):
            settings.append((field[1:], None))
        elif "=" in field:
            name, _, value = field.partition("=")
            settings.append((name, value))
        else:
            settings.append((field, True))
    return tuple(settings)


def parse_rules(text: str, base: PurePosixPath) -> list[_Rule]:
    rules = []
    for raw in text.splitlines():
        line = raw.lstrip(_BLANK)
        if not line or line.startswith("#") or len(raw) > MAX_LINE:
            continue  # a comment, or a line git ignores
        quoted = _unquote(line) if line.startswith('"') else None
        if quoted is not None:
            pattern, rest = quoted
        else:
            pattern, rest = _WORD.match(line).groups()  # type: ignore[union-attr]
        attributes = _settings([f for f in re.split(f"[{_BLANK}]+", rest) if f])
        if pattern.startswith("[attr]") and len(pattern) > len("[attr]"):
            if not base.parts:  # git honours macro definitions only at the top level
                rules.append(_Rule(base, b"", False, False, attributes, pattern.removeprefix("[attr]")))
            continue
        if pattern.startswith("!"):
            continue  # a negative pattern, which gitattributes forbids
        directory_only = pattern.endswith("/")
        body = pattern.rstrip("/")
        encoded = body.lstrip("/").encode("utf-8", "surrogateescape")
        rules.append(_Rule(base, encoded, "/" not in body, directory_only, attributes))
    return rules


class Attributes:
    """The attributes of paths of one commit, from rules given shallowest first (later ones win)."""

    def __init__(self, rules: list[_Rule]) -> None:
        self.rules = [r for r in rules if r.macro is None]
        self.macros: dict[str, tuple[Setting, ...]] = dict(_BUILTIN_MACROS)
        for rule in rules:
            if rule.macro is not None:
                self.macros[rule.macro] = rule.attributes

    def _matches(self, rule: _Rule, path: PurePosixPath, is_dir: bool) -> bool:
        if rule.base.parts and path.parts[: len(rule.base.parts)] != rule.base.parts:
            return False
        rel = PurePosixPath(*path.parts[len(rule.base.parts) :])
        if not rel.parts or (rule.directory_only and not is_dir):
            return False
        subject = (rel.name if rule.basename_only else str(rel)).encode("utf-8", "surrogateescape")
        return wildmatch(rule.pattern, subject, pathname=not rule.basename_only)

    def all(self, path: PurePosixPath, is_dir: bool = False) -> dict[str, Value | None]:
        """Every attribute git gives the path (attr.c's fill: the last matching line first)."""
        found: dict[str, Value | None] = {}
        for rule in reversed(self.rules):
            if self._matches(rule, path, is_dir):
                self._fill(rule.attributes, found, 0)
        return found

    def _fill(self, settings: tuple[Setting, ...], found: dict[str, Value | None], depth: int) -> None:
        for name, value in reversed(settings):
            if name in found:
                continue
            found[name] = value
            if value is True and name in self.macros and depth < MAX_MACRO_DEPTH:
                self._fill(self.macros[name], found, depth + 1)

    def get(self, path: PurePosixPath, name: str, is_dir: bool = False) -> Value | None:
        return self.all(path, is_dir).get(name)

    def is_set(self, path: PurePosixPath, name: str, is_dir: bool = False) -> bool:
        return self.get(path, name, is_dir) is True
