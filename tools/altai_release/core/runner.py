"""The one way this package runs an external tool: an argv list (never a shell), a timeout, a clean
stdin, and on failure the typed error of that tool carrying the command, its exit status and the tail
of its stderr. Also the one helper that reduces a tool's stderr to the line a user needs."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO

from altai_release.core.errors import AltaiError, InputError, ToolError


def run(
    argv: Sequence[str],
    error: type[ToolError],
    what: str,
    *,
    timeout: float = 300.0,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    stdin: IO[bytes] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run `argv`; with `check`, a non-zero exit raises `error(what)`. `env` is added to ours. Its standard
    input: `input_bytes`, or the open file `stdin`, or nothing."""
    try:
        proc = subprocess.run(  # noqa: S603 - an argv list, no shell
            list(argv),
            input=None if stdin is not None else (input_bytes if input_bytes is not None else b""),
            stdin=stdin,
            capture_output=True,
            env={**os.environ, **env} if env is not None else None,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise error(f"{what}: timed out after {timeout:.0f}s", argv) from exc
    except OSError as exc:
        raise error(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}", argv) from exc
    if check and proc.returncode != 0:
        raise error(what, argv, text(proc.stderr), proc.returncode)
    return proc


def run_bounded(
    argv: Sequence[str],
    error: type[ToolError],
    what: str,
    limit: int,
    env: Mapping[str, str] | None = None,
    too_much: type[AltaiError] = InputError,
) -> bytes:
    """Run `argv` and return its stdout, which may not exceed `limit` bytes: past it, the process is killed
    and `too_much` says so (a command whose output an input decides, read without holding it all)."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(  # noqa: S603 - an argv list, no shell
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env={**os.environ, **env} if env is not None else None,
            )
        except OSError as exc:
            raise error(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}", argv) from exc
        assert proc.stdout is not None
        with proc:
            data = proc.stdout.read(limit + 1)
            if len(data) > limit:
                proc.kill()
                raise too_much(f"{what}: more than {limit} bytes: refused")
            code = proc.wait()
        if code != 0:
            err.seek(0)
            raise error(what, argv, text(err.read(64 * 1024)), code)
    return data


def text(output: bytes) -> str:
    return output.decode("utf-8", "replace")


def _marked(lines: Sequence[str], prefixes: Sequence[str]) -> list[str]:
    marked = []
    for line in lines:
        for prefix in prefixes:
            if line.lower().startswith(prefix.lower()):
                marked.append(line[len(prefix) :].strip() if prefix.endswith(":") else line)
                break
    return marked


def reason(
    output: str, prefixes: Sequence[str] = ("error:", "fatal:"), after: str | None = None, last: bool = False
) -> str:
    """The line of a tool's output that says what went wrong: the lines starting with one of `prefixes`
    (prefix removed), only those following the line `after` when it is present; the first of them (or the
    last, with `last`), else the output's last line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    marked = _marked(lines, prefixes)
    if after is not None and after in lines:
        # mock logs a child's stdout and stderr from two pipes: the marker may land after the lines it heads
        marked = _marked(lines[lines.index(after) + 1 :], prefixes) or marked
    chosen = marked or lines[-1:]
    if not chosen:
        return ""
    return chosen[-1] if last else chosen[0]
