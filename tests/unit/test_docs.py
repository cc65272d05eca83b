"""The documentation a newcomer reads: a README of one screen, every link one hop to a file that exists (and
its anchor to a heading), and every example command accepted by the tool it runs, options and mode alike."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from altai_release.cli import build, git2srpm, srpm2git
from altai_testlib import TOOL_SCRIPTS, doc_commands

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "bench" / "RESULTS.md",
    *sorted(ROOT.glob("src/*/README.md")),
]
PARSERS = dict(zip(TOOL_SCRIPTS, (build.parser, git2srpm.parser, srpm2git.parser), strict=True))


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_fits_on_a_screen_and_links_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for page in DOCS[1:]:
        assert f"]({page.relative_to(ROOT)})" in readme, page


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves(doc):
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f"{doc.name}: {target}"
        if anchor and file.suffix == ".md":
            headings = [_anchor(h) for h in re.findall(r"^#+ (.*)$", file.read_text(), re.M)]
            assert anchor in headings, f"{doc.name}: {target}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_command_is_accepted_by_its_tool(doc):
    for line in doc_commands(doc):
        tool, *argv = shlex.split(line)
        parser = PARSERS[tool]()
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{doc.name}: {line}: refused by {tool}")
        if tool == "tools/build.py":
            build.mode_of(args)  # the options of one mode are not given to another


def test_the_readme_has_examples_and_its_synopses_name_only_real_options():
    readme = (ROOT / "README.md").read_text()
    assert len(doc_commands(ROOT / "README.md")) >= 5
    for line in readme.splitlines():
        tool = next((t for t in PARSERS if line.strip().startswith(t)), None)
        if tool is None:
            continue
        known = {o for action in PARSERS[tool]()._actions for o in action.option_strings}
        for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line):
            assert option in known, f"{line}: {option}"


def test_every_venv_program_contributing_names_is_installed_by_setup():
    """CONTRIBUTING.md named `pre-commit install`, which setup never installed."""
    import tomllib

    named = set(re.findall(r"\.venv/bin/([a-z][\w-]*)", (ROOT / "CONTRIBUTING.md").read_text()))
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    installed = {re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0] for requirement in extras} | {"python"}
    assert "pre-commit" in named
    assert named <= installed, named - installed
