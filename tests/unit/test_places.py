"""Where the tool finds its layout and keeps its state, installed anywhere (docs/install.md): the lookup
order, one error naming every place tried, XDG through platformdirs; and what an installed tool brings
along: completions, manual pages, `python -m altai_release`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from altai_release.__main__ import main as module_main
from altai_release.builders.mockinstall import find_mock
from altai_release.cli import build, common, manpages
from altai_release.core.errors import InputError
from altai_release.layout import places
from altai_release.specfile import autospec
from altai_release.specfile.spec import SYSTEM_PYTHON


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in (places.LAYOUT_ENV, places.STATE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path


def _repository_with_layout(top: Path) -> Path:
    (top / ".git").mkdir(parents=True)
    layout = top / "repo-layout" / "altai.toml"
    layout.parent.mkdir()
    layout.write_text("")
    return layout


def test_the_layout_comes_from_the_option_then_the_environment_then_the_git_root(clean_env, monkeypatch):
    layout = _repository_with_layout(clean_env / "release")
    deep = clean_env / "release" / "specs" / "deeper"
    deep.mkdir(parents=True)
    assert places.find_layout(None, deep) == layout  # as tito finds .tito/
    monkeypatch.setenv(places.LAYOUT_ENV, "/elsewhere/altai.toml")
    assert places.find_layout(None, deep) == Path("/elsewhere/altai.toml")
    assert places.find_layout(Path("given.toml"), deep) == Path("given.toml")


def test_no_layout_is_one_error_naming_every_place_tried(clean_env):
    (clean_env / "repo" / ".git").mkdir(parents=True)
    with pytest.raises(InputError) as error:
        places.find_layout(None, clean_env / "repo")
    said = str(error.value)
    assert "--layout (not given)" in said
    assert "$ALTAI_LAYOUT (not set)" in said
    assert f"{clean_env / 'repo' / 'repo-layout' / 'altai.toml'} (absent)" in said
    with pytest.raises(InputError, match="in no git work tree"):
        places.find_layout(None, clean_env)


def test_out_is_beside_the_repo_layout_directory_or_the_layout_file(tmp_path):
    assert places.default_out(tmp_path / "r" / "repo-layout" / "altai.toml") == tmp_path / "r" / "out"
    assert places.default_out(tmp_path / "layouts" / "el6.toml") == tmp_path / "layouts" / "out"


def test_state_is_the_option_then_the_environment_then_xdg(clean_env, monkeypatch):
    assert places.state_dir(None) == clean_env / "xdg-state" / "altai-release"
    assert places.cache_dir() == clean_env / "xdg-cache" / "altai-release"
    monkeypatch.setenv(places.STATE_ENV, str(clean_env / "named"))
    assert places.state_dir(None) == clean_env / "named"
    assert places.state_dir(Path("given")) == Path("given").absolute()


def test_build_without_a_layout_fails_in_one_line(clean_env, monkeypatch, capsys):
    monkeypatch.chdir(clean_env)
    assert build.build_main(["--explain", "--all"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: no release layout found: tried --layout (not given)")


@pytest.mark.parametrize("shell", common.SHELLS)
def test_completion_is_for_the_installed_command_and_completes_files(shell, capsys):
    with pytest.raises(SystemExit) as done:
        build.parser().parse_args(["--print-completion", shell])
    assert done.value.code == 0
    script = capsys.readouterr().out
    assert "altai_build" in script or "altai-build" in script
    assert "--layout" in script
    assert ("_files" if shell == "zsh" else "_shtab_compgen_files") in script


def test_manual_pages_and_completions_are_made_for_the_three_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1577836800")
    written = manpages.write(tmp_path)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    assert names == sorted(
        f"{kind}/{prefix}altai-{command}{suffix}"
        for command in ("build", "git2srpm", "srpm2git")
        for kind, prefix, suffix in (("man1", "", ".1"), ("bash-completion", "", ""), ("zsh", "_", ""))
    )
    page = (tmp_path / "man1" / "altai-build.1").read_text()
    assert page.startswith('.TH ALTAI\\-BUILD "1"')
    assert "\\-\\-state\\-dir" in page
    assert "2020" in page.splitlines()[0]  # SOURCE_DATE_EPOCH: the same page from the same sources


def test_python_m_runs_the_commands(capsys):
    assert module_main(["nothing-of-ours"]) == 2
    assert "one of: build, git2srpm, srpm2git" in capsys.readouterr().err
    done = subprocess.run(
        [sys.executable, "-m", "altai_release", "git2srpm", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("altai-git2srpm (altai-release) ")  # named as the console script is


def test_a_named_mock_that_is_not_there_is_one_error_naming_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("ALTAI_MOCK_HOME", str(tmp_path))
    with pytest.raises(InputError, match=rf"ALTAI_MOCK_HOME={tmp_path}: mock.json is not a record of"):
        find_mock()


def test_rpmautospec_is_found_where_named_or_installed_else_one_error_naming_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv(autospec.LIBRARY_ENV, str(tmp_path))
    with pytest.raises(InputError, match=rf"ALTAI_RPMAUTOSPEC={tmp_path}: no rpmautospec there"):
        autospec.rpmautospec_library()
    (tmp_path / "rpmautospec").mkdir()
    assert autospec.rpmautospec_library() == tmp_path
    monkeypatch.delenv(autospec.LIBRARY_ENV)
    # neither this interpreter (the checkout's venv keeps it apart) nor, on this machine, the system's has it
    probe = [str(SYSTEM_PYTHON), "-I", "-c", "import rpmautospec"]
    if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        assert autospec.rpmautospec_library() is None  # the system's: no directory to add
    else:
        with pytest.raises(InputError, match=r"rpmautospec is not installed: pip install 'altai-release\[autospec\]'"):
            autospec.rpmautospec_library()
