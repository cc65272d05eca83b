"""Shared fixtures: real git repositories in tmp dirs, and a runner for the real entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"


@dataclass
class GitRepo:
    path: Path
    clock: int = 1_700_000_000

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
            "GIT_COMMITTER_NAME": "Test Author", "GIT_COMMITTER_EMAIL": "author@example.com",
            "GIT_AUTHOR_DATE": f"@{self.clock} +0000", "GIT_COMMITTER_DATE": f"@{self.clock} +0000",
        }  # fmt: skip
        proc = subprocess.run(["git", *args], cwd=self.path, env=env, capture_output=True, text=True,
                              check=True)  # fmt: skip
        return proc.stdout.strip()

    def write(self, files: Mapping[str, str | bytes]) -> None:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")

    def commit(self, files: Mapping[str, str | bytes], message: str = "change") -> str:
        self.write(files)
        self.clock += 3600
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def make_repo(tmp_path: Path):
    counter = iter(range(1000))

    def factory(files: Mapping[str, str | bytes] | None = None) -> GitRepo:
        path = tmp_path / f"repo{next(counter)}"
        path.mkdir()
        repo = GitRepo(path)
        repo.git("init", "-q", "-b", "main")
        if files:
            repo.commit(files, "initial")
        return repo

    return factory


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_tool(script: str, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Run:
    proc = subprocess.run(
        [sys.executable, str(TOOLS / script), *args],
        cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(run: Run, *fragments: str) -> None:
    """The CLI contract for failures: non-zero, exactly one `error:` line naming the culprit, last on stderr
    (after any progress lines), no traceback."""
    assert run.returncode != 0, run
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], run.stderr
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
