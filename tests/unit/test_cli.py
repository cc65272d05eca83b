"""The command lines as the field's tools have them: --version, -q/-v/--timings driving logging, build.py's
modes excluding each other, and the options of one mode refused in another."""

from __future__ import annotations

import logging
import os
import sys

import pytest
from altai_release.cli import build, common, git2srpm, srpm2git
from altai_release.core.errors import InputError


@pytest.mark.parametrize("parser", [build.parser, git2srpm.parser, srpm2git.parser])
def test_every_tool_has_version_and_an_example(parser, capsys):
    with pytest.raises(SystemExit) as done:
        parser().parse_args(["--version"])
    assert done.value.code == 0
    # the command as typed; a worker of pytest-xdist runs as `-c`: the parser's name then
    typed = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] not in ("", "-c") else parser().prog
    assert capsys.readouterr().out.strip() == f"{typed} (altai-release) {common.version()}"
    assert "example:\n  tools/" in parser().format_help()


def test_modes_exclude_each_other_as_a_usage_error(capsys):
    with pytest.raises(SystemExit) as done:
        build.parser().parse_args(["--diff", "a.json", "--notes", "b.json"])
    assert done.value.code == 2
    assert capsys.readouterr().err.startswith("error: build: argument --notes: not allowed with argument --diff")


@pytest.mark.parametrize(
    ("argv", "mode", "refusal"),
    [
        (["nova-fping"], "build", None),
        (["--diff", "old.json"], "diff", None),
        (["--explain", "--all"], "explain", None),
        (["--accept", "--base-repos", "base.repo"], "accept", None),
        (["--verify"], "verify", None),
        (["--verify", "old-release/"], "verify", None),
        (["--verify", "old-release/", "nova-fping"], None, "--verify reads published releases and builds nothing"),
        (["--diff", "old.json", "nova-fping"], None, "--diff reads published releases and builds nothing"),
        (["--explain"], None, "--explain needs package names"),
        (["nova-fping", "--base-repos", "base.repo"], None, "--base-repos goes with --accept"),
        (["--accept", "--against", "new.json"], None, "--against goes with --diff OLD or --notes OLD"),
        (["--notes", "old.json", "--json"], None, "--notes prints Markdown"),
    ],
)
def test_the_mode_and_the_options_that_go_with_it(argv, mode, refusal):
    args = build.parser().parse_args(argv)
    if refusal is None:
        assert build.mode_of(args) == mode
    else:
        with pytest.raises(InputError, match=refusal):
            build.mode_of(args)


@pytest.mark.parametrize(
    ("flags", "level", "timed"),
    [
        ([], logging.INFO, False),
        (["-q"], logging.WARNING, False),
        (["-v"], logging.DEBUG, True),
        (["--timings"], logging.INFO, True),
    ],
)
def test_quiet_verbose_and_timings_set_the_log(flags, level, timed, monkeypatch):
    from altai_release.core import timing

    monkeypatch.setattr(timing, "_enabled", False)
    common.setup_logging(srpm2git.parser().parse_args([*flags, "x.src.rpm", "dir"]))
    assert logging.getLogger(common.LOGGER).level == level
    assert timing._enabled is timed


def test_log_records_read_as_the_lines_the_tools_always_printed():
    lines = common._Lines()

    def shown(level: int, message: str) -> str:
        return lines.format(logging.LogRecord("altai_release.x", level, __file__, 1, message, None, None))

    assert shown(logging.INFO, "published out") == "published out"
    assert shown(logging.WARNING, "pkg: dirty tree") == "warning: pkg: dirty tree"
    assert shown(logging.DEBUG, "detail") == "debug: detail"


def test_q_and_v_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        git2srpm.parser().parse_args(["-q", "-v", "repo"])
    assert "not allowed with argument" in capsys.readouterr().err
