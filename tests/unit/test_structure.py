"""The tree a newcomer walks: one package per step of the pipeline, data flowing one way, no two modules
with one name, the size limits, and docs/architecture.md naming every module."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tools" / "altai_release"
# the steps in the order data flows: a module imports from its own step or an earlier one
STEPS = ["core", "rpm", "sandbox", "specfile", "git", "layout", "signing", "sources", "builders", "release", "cli"]
SERVICES = [ROOT / "src" / "nova-fping" / "nova_fping", ROOT / "src" / "instance-notifier" / "instance_notifier"]
MAX_MODULE_LINES = 260
MAX_FUNCTION_LINES = 60
MAX_PACKAGE_MODULES = 14  # a package a newcomer reads at a glance ("about 12"; core/ holds the basics)


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def step_of(path: Path) -> str:
    # `python -m altai_release` starts the commands: it belongs with them
    return "cli" if path == PACKAGE / "__main__.py" else path.relative_to(PACKAGE).parts[0]


@functools.cache
def nodes(path: Path) -> tuple[ast.AST, ...]:
    """Every node of a module's syntax tree, parsed once for all the tests here."""
    return tuple(ast.walk(ast.parse(path.read_text())))


def imported_steps(path: Path) -> set[tuple[str, int]]:
    """The steps a module imports from (at any depth: lazy imports too), with the line."""
    package = path.relative_to(PACKAGE).parent.parts
    found = set()
    for node in nodes(path):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                names = [".".join(["altai_release", *base, *([node.module] if node.module else [])])]
            elif node.module:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "altai_release" and len(parts) > 1:
                found.add((parts[1], getattr(node, "lineno", 0)))
    return found


def test_the_package_has_a_few_steps_at_its_top():
    top = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__" and not p.name.endswith(".pyc"))
    assert len(top) <= 15, top
    assert sorted(p.removesuffix(".py") for p in top if p not in ("__init__.py", "__main__.py")) == sorted(STEPS)


def test_no_package_holds_more_than_a_glance_of_modules():
    crowded = {}
    for directory in sorted({p.parent for p in modules()}):
        count = len([p for p in directory.glob("*.py") if p.name != "__init__.py"])
        if count > MAX_PACKAGE_MODULES:
            crowded[str(directory.relative_to(PACKAGE))] = count
    assert crowded == {}


def test_no_two_modules_share_a_name():
    seen: dict[str, Path] = {}
    for path in modules():
        assert path.stem not in seen, f"{path} and {seen[path.stem]}"
        seen[path.stem] = path


def test_data_flows_one_way():
    backward = []
    for path in modules():
        own = STEPS.index(step_of(path))
        for step, line in imported_steps(path):
            assert step in STEPS, f"{path}:{line}: imports from altai_release.{step}, which is not a step"
            if STEPS.index(step) > own:
                backward.append(f"{path.relative_to(PACKAGE)}:{line} imports from the later step {step}")
    assert backward == []


def _sources() -> list[Path]:
    tools = sorted((ROOT / "tools").glob("*.py"))
    services = sorted(p for base in SERVICES for p in base.rglob("*.py"))
    return [*tools, *sorted(PACKAGE.rglob("*.py")), *services]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"  # type: ignore[operator]
        for node in nodes(path)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES  # type: ignore[operator]
    ]
    assert long == []


def test_the_architecture_page_names_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text()
    named = [f"`{p.relative_to(PACKAGE).with_suffix('').as_posix()}`" for p in modules()]
    for base in SERVICES:
        for p in base.rglob("*.py"):
            rel = p.relative_to(base).with_suffix("").as_posix().removesuffix("/__init__")
            if rel != "__init__":
                named.append(f"`{base.name}/{rel}`")
    missing = [name for name in named if name not in page]
    assert missing == []
    for step in STEPS:
        assert f"**`{step}/`**" in page


def test_the_formatter_formats_everything():
    """No comment that turns the formatter off, in the tools, the services, the tests or the benchmarks:
    what the formatter writes is the style."""
    trees = [PACKAGE, ROOT / "tests", ROOT / "bench", *(base.parent for base in SERVICES)]
    marker = "fmt: " + "skip"
    marked = [str(p.relative_to(ROOT)) for tree in trees for p in tree.rglob("*.py") if marker in p.read_text()]
    assert marked == []


def test_pre_commit_runs_what_make_lint_runs():
    import re

    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    commands = [line.strip() for line in lint.splitlines()[1:] if line.startswith("\t")]
    hooks = re.findall(r"entry: (.+)", (ROOT / ".pre-commit-config.yaml").read_text())
    as_hooks = [re.sub(r"^cd (\S+) && (.+)$", r"sh -c 'cd \1 && \2'", command) for command in commands]
    assert hooks == as_hooks
