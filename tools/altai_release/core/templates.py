"""The layout's jinja2 templates (`altai.repo.j2`, `mock.cfg.j2`, release notes): one environment, strict
about undefined names, with the filters the templates use."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from altai_release.core.errors import InputError
from altai_release.core.memo import recall, remember


def _pyrepr(value: Any) -> str:
    """A Python literal of a string, safe to place in a config file that is exec'd (mock's)."""
    return repr(str(value))


_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\`*_[]#|!<>"})  # with [ ] escaped, ( ) make no link
_ENTITY = re.compile(r"&(?=#?\w+;)")
_AUTHOR_EMAIL = re.compile(r"\s*<([^<>\s]+@[^<>\s]+)>\s*$")


def _md(value: Any) -> str:
    """Text of a package (its %changelog) as Markdown shows it and no more: no HTML, no link, no emphasis of
    its own making. Backslash escapes, not HTML entities: the notes are read as plain text too."""
    return _ENTITY.sub(r"\\&", str(value).translate(_MARKDOWN))


def _author(value: Any) -> str:
    """A %changelog author, `Name <email>` shown as `Name (email)`: readable as text and as Markdown."""
    return _md(_AUTHOR_EMAIL.sub(r" (\1)", str(value)))


def render(template_dir: Path, name: str, context: Mapping[str, Any], autoescape: bool = False) -> str:
    """Render `template_dir/name`; an error names the template. `autoescape` for HTML output."""
    import jinja2  # loaded by the runs that render (a no-op run finds its altai.repo in the memo)

    env = jinja2.Environment(  # noqa: S701 - autoescape is chosen per output kind
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=autoescape,
    )
    env.filters["pyrepr"] = _pyrepr
    env.filters["md"] = _md
    env.filters["author"] = _author
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        raise InputError(f"{template_dir / name}: cannot render: {exc}") from exc


def render_remembered(template_dir: Path, name: str, context: Mapping[str, Any], memo: Path) -> str:
    """`render`, kept in the file `memo` under a key of every file of the template directory and the
    context: a run that renders the same thing again reads it back."""
    digest = hashlib.sha256(json.dumps([name, context], sort_keys=True, default=str).encode())
    for path in sorted(template_dir.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    question = {"template": name, "key": digest.hexdigest()}
    kept = recall(memo, question)
    if kept is not None and isinstance(kept.get("text"), str):
        return str(kept["text"])
    text = render(template_dir, name, context)
    remember(memo, question, {"text": text})
    return text
