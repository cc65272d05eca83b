"""Typed errors. Every failure the CLI can report is an AltaiError; the CLI prints str(error) on one line
and exits with the error class's `exit_code`, so that a CI job can tell a bad input from a broken tool,
a bad signature or a release that refused the change:

| exit | class | meaning |
| --- | --- | --- |
| 1 | AltaiError, OSError | anything else (a file that cannot be written, ...) |
| 2 | InputError | bad input: arguments, a ref, a path, a spec, a layout, a manifest |
| 3 | ToolError (git, bwrap, rpm, rpmbuild, mock, builds), UpstreamError | a tool, a build or a server failed |
| 4 | VerificationError, SigningError | a signature, checksum or key is wrong or missing |
| 5 | PublishError | the release refuses the change (a published NEVRA, a downgrade, another run holds it) |
"""

from __future__ import annotations

from collections.abc import Sequence


class AltaiError(Exception):
    """A failure to report to the user as one `error:` line."""

    exit_code = 1
    reported = False  # the mode printed its own report of it (--verify --json): no JSON error object


class InputError(AltaiError):
    """Bad input from the user or from a repository: a ref, a path, a spec, a layout."""

    exit_code = 2


class ToolError(AltaiError):
    """An external tool failed. Carries the command line, its exit status and its stderr."""

    exit_code = 3

    def __init__(self, message: str, cmd: Sequence[str] = (), stderr: str = "", returncode: int | None = None) -> None:
        self.message = message
        self.cmd = list(cmd)
        self.stderr = stderr
        self.returncode = returncode
        super().__init__(message)

    @property
    def stderr_tail(self) -> str:
        lines = [ln.strip() for ln in self.stderr.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    def __str__(self) -> str:
        tail = self.stderr_tail
        said = tail.split(":", 1)[1].strip() if tail.startswith(("fatal:", "error:")) else tail
        return f"{self.message}: {tail}" if said and said not in self.message else self.message


class GitError(ToolError):
    pass


class SandboxError(ToolError):
    pass


class SandboxLimitError(SandboxError):
    """A sandboxed step hit one of its limits (processes, memory, file size, time). `output`: what the host
    kept of the step's stdout and stderr, for its log."""

    output = ""


class SpecError(ToolError):
    """A spec file could not be read (it does not parse, or names something missing)."""


class BadSpecError(SpecError):
    """The spec itself is at fault: it does not parse (an illegal name among the causes), has no Source0 or
    no Release line: bad input, as a bad ref or path is."""

    exit_code = 2


class RpmbuildError(ToolError):
    pass


class BuildError(ToolError):
    """A package failed to build. Names the package, the step and the log."""


class MockError(BuildError):
    pass


class KojiError(BuildError):
    """The Koji hub refused, failed or is unreachable, or a task on it failed."""


class UpstreamError(AltaiError):
    """An upstream (a third-party repository, a download) could not be read, or lacks what is pinned."""

    exit_code = 3


class SigningError(ToolError):
    """gpg or rpmsign failed, or a signature does not verify."""

    exit_code = 4


class VerificationError(AltaiError):
    """A download does not match its checksum, or a package is not signed by the key it must carry."""

    exit_code = 4


class NoSpaceError(AltaiError):
    """The disk the run writes to is full; whatever failed first (a build, a signature, the rpmdb, a write)
    is named in the message, but this is what a user must act on."""

    exit_code = 1


class PublishError(AltaiError):
    """The release tree refuses the change, or another run is publishing to it."""

    exit_code = 5
