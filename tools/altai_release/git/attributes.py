"""gitattributes as `git archive` reads them for the tree it packs: `.gitattributes` files of the commit
(from the root down) and `$GIT_DIR/info/attributes` above them; patterns as gitattributes(5) has them
(gitignore's, without negation; a pattern that names a directory applies to the directory itself)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

Value = bool | str


@dataclass(frozen=True)
class _Rule:
    base: PurePosixPath  # the directory of the .gitattributes file, relative to the repository's root
    pattern: re.Pattern[str]
    basename_only: bool  # a pattern without a slash matches a name at any depth below `base`
    attributes: tuple[tuple[str, Value | None], ...]  # None: unspecified (`!attr`)


def _translate(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out, i = out + "/.*", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            out, i = out + "[" + body.replace("\\", "\\\\") + "]", end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 2
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def parse_rules(text: str, base: PurePosixPath) -> list[_Rule]:
    rules = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0].startswith("!"):
            continue  # a comment, or a negative pattern (which gitattributes forbids)
        pattern, attrs = fields[0], list[tuple[str, Value | None]]()
        for field in fields[1:]:
            if field.startswith("-"):
                attrs.append((field[1:], False))
            elif field.startswith("!"):
                attrs.append((field[1:], None))
            elif "=" in field:
                name, _, value = field.partition("=")
                attrs.append((name, value))
            else:
                attrs.append((field, True))
        anchored = "/" in pattern.rstrip("/")
        body = pattern.strip("/") if anchored else pattern.rstrip("/")
        rules.append(_Rule(base, re.compile(_translate(body)), not anchored, tuple(attrs)))
    return rules


class Attributes:
    """The attributes of paths of one commit, from rules given shallowest first (later ones win)."""

    def __init__(self, rules: list[_Rule]) -> None:
        self.rules = rules

    def get(self, path: PurePosixPath, name: str) -> Value | None:
        value: Value | None = None
        for rule in self.rules:
            if rule.base.parts and path.parts[: len(rule.base.parts)] != rule.base.parts:
                continue
            rel = PurePosixPath(*path.parts[len(rule.base.parts) :])
            if not rel.parts:
                continue
            subject = rel.name if rule.basename_only else str(rel)
            if rule.pattern.fullmatch(subject):
                for attr, setting in rule.attributes:
                    if attr == name:
                        value = setting
        return value

    def is_set(self, path: PurePosixPath, name: str) -> bool:
        return self.get(path, name) is True
