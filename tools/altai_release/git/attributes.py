"""gitattributes as `git archive` reads them for the tree it packs: `.gitattributes` files of the commit
(from the root down) and `$GIT_DIR/info/attributes` above them; patterns as gitattributes(5) has them
(gitignore's, without negation; a pattern that ends with a slash matches a directory only), matched by
git's own wildmatch (`wildmatch`), never by a regex translation that can backtrack for ever."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from altai_release.git.wildmatch import wildmatch

Value = bool | str
MAX_LINE = 2048  # git ignores a longer attributes line (ATTR_MAX_LINE_LENGTH), and so do we


@dataclass(frozen=True)
class _Rule:
    base: PurePosixPath  # the directory of the .gitattributes file, relative to the repository's root
    pattern: bytes
    basename_only: bool  # a pattern without a slash matches a name at any depth below `base`
    directory_only: bool  # a pattern that ends with a slash
    attributes: tuple[tuple[str, Value | None], ...]  # None: unspecified (`!attr`)


def parse_rules(text: str, base: PurePosixPath) -> list[_Rule]:
    rules = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0].startswith("!") or len(line) > MAX_LINE:
            continue  # a comment, a negative pattern (which gitattributes forbids), a line git ignores
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
        directory_only = pattern.endswith("/")
        body = pattern.rstrip("/")
        anchored = "/" in body
        encoded = body.lstrip("/").encode("utf-8", "surrogateescape")
        rules.append(_Rule(base, encoded, not anchored, directory_only, tuple(attrs)))
    return rules


class Attributes:
    """The attributes of paths of one commit, from rules given shallowest first (later ones win)."""

    def __init__(self, rules: list[_Rule]) -> None:
        self.rules = rules

    def get(self, path: PurePosixPath, name: str, is_dir: bool = False) -> Value | None:
        value: Value | None = None
        for rule in self.rules:
            if rule.base.parts and path.parts[: len(rule.base.parts)] != rule.base.parts:
                continue
            rel = PurePosixPath(*path.parts[len(rule.base.parts) :])
            if not rel.parts or (rule.directory_only and not is_dir):
                continue
            subject = (rel.name if rule.basename_only else str(rel)).encode("utf-8", "surrogateescape")
            if wildmatch(rule.pattern, subject, pathname=not rule.basename_only):
                for attr, setting in rule.attributes:
                    if attr == name:
                        value = setting
        return value

    def is_set(self, path: PurePosixPath, name: str, is_dir: bool = False) -> bool:
        return self.get(path, name, is_dir) is True
