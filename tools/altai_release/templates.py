"""The layout's jinja2 templates (`altai.repo.j2`, `mock.cfg.j2`, release notes): one environment, strict
about undefined names, with the filters the templates use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from .errors import InputError


def _pyrepr(value: Any) -> str:
    """A Python literal of a string, safe to place in a config file that is exec'd (mock's)."""
    return repr(str(value))


def render(template_dir: Path, name: str, context: Mapping[str, Any], autoescape: bool = False) -> str:
    """Render `template_dir/name`; an error names the template. `autoescape` for HTML output."""
    env = jinja2.Environment(  # noqa: S701 - autoescape is chosen per output kind
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=autoescape,
    )
    env.filters["pyrepr"] = _pyrepr
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        raise InputError(f"{template_dir / name}: cannot render: {exc}") from exc
