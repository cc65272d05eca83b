"""The `git cat-file --batch` protocol: one long-lived process per repository, names written, answers
(`<id> <type> <size>` and the content) read back; many blobs asked for at once by a writer thread while
the caller reads, and git's refusal (a repository owned by another user) or failure said in one error."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Generator, Sequence
from typing import IO

from altai_release.core import runner
from altai_release.core.errors import GitError, InputError

Refusal = Callable[[str], InputError | None]


class CatFileBatch:
    def __init__(self, argv: Sequence[str], env: dict[str, str], location: str, refusal: Refusal) -> None:
        self.argv = list(argv)
        self.env = env
        self.location = location
        self.refusal = refusal  # git's refusal of the repository as one error, when what git said is one
        self._proc: subprocess.Popen[bytes] | None = None
        self._errors: IO[bytes]

    def _process(self) -> subprocess.Popen[bytes]:
        """The repository's one `git cat-file --batch`, started on first use."""
        if self._proc is None:
            # what git says goes to a file: it is read only when git stops, and a pipe could fill and block it
            self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (git's stderr, for as long as the batch lives)
            self._proc = subprocess.Popen(  # noqa: S603 - an argv list, no shell
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                env={**os.environ, **self.env},
            )
        return self._proc

    def _answer(self, name: str) -> tuple[str, str, bytes] | None:
        """cat-file's answer to one name asked before: (id, type, content), None when missing."""
        proc = self._process()
        assert proc.stdout is not None
        try:
            line = proc.stdout.readline()
            if not line:  # git stopped: it refused the repository, or could not read it
                raise self._failed()
            header = line.split()
            if len(header) != 3 or not header[2].isdigit():
                return None  # "<name> missing" (or ambiguous)
            size = int(header[2])
            content = proc.stdout.read(size + 1)[:size]
        except OSError as exc:
            raise GitError(f"{self.location}: cannot read object {name!r}: {exc}") from exc
        return header[0].decode(), header[1].decode(), content

    def object(self, name: str) -> tuple[str, str, bytes] | None:
        """(id, type, content) of an object named as `git cat-file` names them, or None when missing."""
        if "\n" in name or "\0" in name:
            return None
        proc = self._process()
        assert proc.stdin is not None
        try:
            proc.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
            proc.stdin.flush()
        except BrokenPipeError:
            raise self._failed() from None
        return self._answer(name)

    def blobs(self, hexshas: Sequence[str]) -> Generator[bytes, None, None]:
        """The contents of many blobs, in order, asked of git all at once (a thread writes the names while
        this reads the answers: one round trip per object cost more than packing a tree)."""
        proc = self._process()
        assert proc.stdin is not None
        stdin = proc.stdin

        def ask() -> None:
            try:
                stdin.write(b"".join(h.encode() + b"\n" for h in hexshas))
                stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # git stopped; the reader says why

        writer = threading.Thread(target=ask, daemon=True)
        writer.start()
        answered = 0
        try:
            for hexsha in hexshas:
                found = self._answer(hexsha)
                if found is None or found[1] != "blob":
                    raise GitError(f"{self.location}: object {hexsha} is not a blob of this repository")
                answered += 1
                yield found[2]
        finally:
            if answered < len(hexshas) and self._proc is not None:
                self._proc.kill()  # answers left unread: this process cannot serve another question
                self.close()
            writer.join()

    def _failed(self) -> InputError | GitError:
        assert self._proc is not None
        self._proc.wait()
        self._errors.seek(0)
        said = runner.text(self._errors.read())
        self.close()
        why = runner.reason(said, ("fatal:", "error:")) or said.strip()
        return self.refusal(said) or GitError(f"{self.location}: cannot read the repository: {why}", self.argv, said)

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # git has stopped already
                self._proc.stdin.close()
            self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._errors.close()
            self._proc = None
