"""Typed errors. Every failure the CLI can report is an AltaiError; the CLI prints str(error) on one line."""

from __future__ import annotations

from collections.abc import Sequence


class AltaiError(Exception):
    """A failure to report to the user as one `error:` line."""


class InputError(AltaiError):
    """Bad input from the user or from a repository: a ref, a path, a spec, a layout."""


class ToolError(AltaiError):
    """An external tool failed. Carries the command line and the tail of its stderr."""

    tool = "tool"

    def __init__(self, message: str, cmd: Sequence[str] = (), stderr: str = "") -> None:
        self.message = message
        self.cmd = list(cmd)
        self.stderr = stderr
        super().__init__(message)

    @property
    def stderr_tail(self) -> str:
        lines = [ln.strip() for ln in self.stderr.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    def __str__(self) -> str:
        tail = self.stderr_tail
        return f"{self.message}: {tail}" if tail and tail not in self.message else self.message


class GitError(ToolError):
    tool = "git"


class SandboxError(ToolError):
    tool = "bwrap"


class SpecError(ToolError):
    """A spec file could not be read (it does not parse, or names something missing)."""

    tool = "rpmspec"


class RpmbuildError(ToolError):
    tool = "rpmbuild"


class SigningError(ToolError):
    tool = "gpg"


class BuildError(ToolError):
    """A package failed to build. Names the package, the step and the log."""

    tool = "builder"


class MockError(BuildError):
    tool = "mock"
