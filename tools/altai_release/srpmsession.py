"""A package's spec read and its `rpmbuild -bs` in one sandbox: the spec reader prints what the pipeline
needs, waits while the caller packs the sources into the build's SOURCES, and then becomes `rpmbuild -bs`
of the same spec (`Rpmbuild`'s command line and environment: the bytes a separate `rpmbuild -bs` made).
One sandbox launch and one interpreter per SRPM instead of two launches."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO

from . import runner
from .errors import RpmbuildError, SpecError
from .rpmbuild import BUILD_TIMEOUT, INNER_TOPDIR, Rpmbuild
from .sandbox import Sandbox
from .spec import SPEC_TIMEOUT, SPECQUERY, SpecInfo, spec_info, specquery_argv


class SrpmSession:
    def __init__(self, build: Rpmbuild, spec_file: Path, shown: str) -> None:
        self.build = build
        self.spec_file = spec_file
        self.shown = shown
        inner_spec = INNER_TOPDIR / spec_file.relative_to(build.topdir)
        self.rpmbuild_argv = [*build.base_argv(), "--nodeps", "-bs", str(inner_spec)]
        self.argv = [
            *specquery_argv(inner_spec, build.defines, build.macro_files),
            "--then",
            *self.rpmbuild_argv,
        ]
        self._proc: subprocess.Popen[str] | None = None
        self._errors: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")

    def __enter__(self) -> SrpmSession:
        box = Sandbox(
            readonly=list(dict.fromkeys([*self.build.readonly, SPECQUERY.parent])),
            mounted={self.build.topdir: INNER_TOPDIR},
        )
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - an argv list, no shell
                box.argv(self.argv, cwd=INNER_TOPDIR),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,  # a file: never a pipe that fills while we wait for the spec
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as exc:
            raise SpecError(f"{self.shown}: cannot start the sandbox: {exc.strerror or exc}", self.argv) from exc
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._errors.close()

    def _said(self) -> str:
        self._errors.seek(0)
        return self._errors.read()

    def info(self) -> SpecInfo:
        """What the spec says (the spec reader's line), or the error that it does not parse."""
        assert self._proc is not None and self._proc.stdout is not None
        expired = threading.Event()

        def expire() -> None:  # a spec's %(...) may never return
            expired.set()
            assert self._proc is not None
            self._proc.kill()

        timer = threading.Timer(SPEC_TIMEOUT, expire)
        timer.start()
        try:
            line = self._proc.stdout.readline()
        finally:
            timer.cancel()
        if expired.is_set():
            raise SpecError(f"{self.shown}: reading the spec took longer than {SPEC_TIMEOUT:.0f}s; stopped", self.argv)
        if not line.strip():
            self._proc.wait()
            said = self._said()
            raise SpecError(f"{self.shown}: spec does not parse", self.argv, runner.reason(said, ("error:",)) or said)
        return spec_info(line, self.spec_file, self.shown, self.argv, self._said())

    def build_srpm(self, source_date_epoch: int) -> Path:
        """Let the sandbox run `rpmbuild -bs` now that SOURCES holds the sources; the SRPM's path."""
        assert self._proc is not None
        try:
            self._proc.communicate(f"run {source_date_epoch}\n", timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise RpmbuildError(f"rpmbuild -bs {self.spec_file.name}: timed out", self.rpmbuild_argv) from exc
        said = self._said()
        if self._proc.returncode != 0:
            why = runner.reason(said, ("error:", "Bad exit status"), after="RPM build errors:", last=True)
            raise RpmbuildError(f"rpmbuild -bs {self.spec_file.name} failed", self.rpmbuild_argv, why)
        return self.build.built_srpm(self.spec_file)
