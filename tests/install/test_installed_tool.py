"""The tool as a user installs it (issue 51): a wheel of this checkout in a virtualenv outside it, run from
another directory with HOME and the XDG directories fresh and none of the checkout's ALTAI_* variables:
git2srpm on a repository elsewhere (%autorelease: rpmautospec from the install's `[autospec]` extra), a
release built from a layout kept in another repository (found at the current directory's git root), and
--verify. Nothing new under the virtualenv or the checkout afterwards (`make test` runs this layer alone,
after the others: nothing else writes to the checkout meanwhile); the development key is in the XDG state
directory. The wheel installs its dependencies from the package registries, as `pip install` does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from altai_testlib import LIB_SPEC, ROOT, TEST_LAYOUT_HEAD, GitRepo, app_spec

AUTORELEASE_SPEC = """\
Name: hello-auto
Version: 1.0
Release: %autorelease
Summary: A package whose Release and changelog come from its history
License: MIT
Source0: %{name}-%{version}.tar.gz
BuildArch: noarch
%description
Hello.
%prep
%setup -q
%install
mkdir -p %{buildroot}/usr/share/hello-auto
cp hello.txt %{buildroot}/usr/share/hello-auto/
%files
/usr/share/hello-auto
%changelog
%autochangelog
"""


def _run(argv: list[str | Path], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _files(top: Path) -> set[str]:
    found: set[str] = set()
    for directory, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if not (Path(directory) == top and d == ".git")]
        found.update(os.path.relpath(os.path.join(directory, n), top) for n in [*names, *dirs])
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv outside the checkout with the wheel of the checkout's tree installed, as a user does."""
    top = tmp_path_factory.mktemp("installed")
    source = top / "source"  # setuptools builds in the tree it is given: a copy, not the checkout
    listed = _run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    for rel in filter(None, listed.split("\0")):
        if (ROOT / rel).is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, source / rel)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", top / "dist", source])
    (wheel,) = (top / "dist").glob("altai_release-*.whl")
    venv = top / "venv"
    _run(["/usr/bin/python3", "-m", "venv", venv])
    _run([venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[autospec]"])
    return venv


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALTAI_", "XDG_", "GNUPGHOME", "PYTHON"))}
    return {
        **env,
        "HOME": str(home),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }


def _repository(path: Path, files: dict[str, str]) -> GitRepo:
    path.mkdir(parents=True)
    repo = GitRepo(path)
    repo.git("init", "-q", "-b", "main")
    repo.commit(files, "initial")
    return repo


def test_the_installed_tool_works_from_anywhere_and_writes_only_its_own_places(venv, user_env, tmp_path):
    bin_ = venv / "bin"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    venv_before, checkout_before = _files(venv), _files(ROOT)

    assert "altai-build (altai-release)" in _run([bin_ / "altai-build", "--version"], cwd=elsewhere, env=user_env)
    assert "usage: altai-git2srpm" in _run([bin_ / "altai-git2srpm", "--help"], cwd=elsewhere, env=user_env)
    assert "_shtab_altai_build" in _run([bin_ / "altai-build", "--print-completion", "bash"], env=user_env)
    assert "(altai-release)" in _run([bin_ / "python", "-m", "altai_release", "srpm2git", "--version"], env=user_env)

    # git2srpm on a repository elsewhere, its %autorelease computed by the install's rpmautospec
    hello = _repository(tmp_path / "hello", {"hello-auto.spec": AUTORELEASE_SPEC, "hello.txt": "hello\n"})
    hello.commit({"hello.txt": "hello again\n"}, "second")
    said = _run(
        [bin_ / "altai-git2srpm", "--dist", ".el6", "--outdir", "srpms", hello.path], cwd=elsewhere, env=user_env
    )
    assert (elsewhere / "srpms" / "hello-auto-1.0-2.el6.src.rpm").is_file(), said

    # a release from a layout kept in a repository of its own, run from a directory deep inside it
    lib = _repository(tmp_path / "libaltai", {"libaltai.spec": LIB_SPEC, "lib.txt": "library\n"})
    app = _repository(tmp_path / "altai-app", {"altai-app.spec": app_spec(), "app.txt": "app\n"})
    config = tmp_path / "release-config"
    shutil.copytree(ROOT / "repo-layout" / "templates", config / "repo-layout" / "templates")
    shutil.copy(ROOT / "repo-layout" / "macros" / "el6.macros", config / "repo-layout" / "el6.macros")
    _repository(config / "notes", {"README": "the release's configuration\n"})
    shutil.move(config / "notes" / ".git", config / ".git")
    (config / "repo-layout" / "altai.toml").write_text(_layout(lib.path, app.path))
    deep = config / "notes"
    built = _run([bin_ / "altai-build", "--all", "--builder", "rpmbuild"], cwd=deep, env=user_env)
    out = config / "out"
    assert (out / "manifest.json").is_file(), built
    verified = _run([bin_ / "altai-build", "--verify", "--builder", "rpmbuild", "-q"], cwd=deep, env=user_env)
    assert "FAIL" not in verified

    state = Path(user_env["XDG_STATE_HOME"]) / "altai-release"
    assert (state / "dev-gnupg").is_dir(), sorted(_files(Path(user_env["HOME"])))
    assert _files(venv) == venv_before
    assert _files(ROOT) == checkout_before


def test_what_is_not_installed_is_one_error_naming_what_to_install(venv, user_env, tmp_path):
    if Path("/usr/libexec/mock/mock").exists():
        pytest.fail("this machine has the host's mock: the test needs a machine without one (CI's Debian)")
    config = tmp_path / "cfg"
    (config / ".git").mkdir(parents=True)
    (config / "repo-layout").mkdir()
    shutil.copy(ROOT / "repo-layout" / "macros" / "el6.macros", config / "repo-layout" / "el6.macros")
    (config / "repo-layout" / "altai.toml").write_text(_layout(tmp_path / "none", tmp_path / "none2"))
    done = subprocess.run(
        [venv / "bin" / "altai-build", "--all", "--builder", "mock"],
        cwd=config,
        env=user_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: --builder mock: mock is not installed on this machine: dnf install mock")
    )


def _layout(lib: Path, app: Path) -> str:
    return (
        TEST_LAYOUT_HEAD
        + f'[packages.libaltai]\ngit = "{lib}"\nrepository = "misc"\n\n'
        + (f'[packages.altai-app]\ngit = "{app}"\nrepository = "centos6"\n')
    )


@pytest.mark.parametrize("kind", ["file", "foreign directory"])
def test_setup_mock_into_a_named_place_never_removes_what_it_did_not_make(tmp_path, kind):
    """`scripts/setup-mock.sh DIR` (mock for an installed tool) replaces only a mock it installed itself."""
    place = tmp_path / "place"
    if kind == "file":
        place.write_text("a user's file\n")
    else:
        place.mkdir()
        (place / "keep.txt").write_text("a user's file\n")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "setup-mock.sh"), str(place)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"setup: error: {place}: not")
    kept = place if kind == "file" else place / "keep.txt"
    assert kept.read_text() == "a user's file\n"
