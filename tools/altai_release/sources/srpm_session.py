"""A package's spec read and its `rpmbuild -bs` in one sandbox: the spec reader prints what the pipeline
needs, waits while the caller packs the sources into the build's SOURCES (an input directory: read-only to
the sandbox, so the spec's shell cannot plant a link there for the host to follow), and then becomes
`rpmbuild -bs` of the same spec (`Rpmbuild`'s command line and environment: the bytes a separate
`rpmbuild -bs` made). One sandbox launch and one interpreter per SRPM instead of two launches."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from altai_release.core import runner
from altai_release.core.errors import BadSpecError, RpmbuildError, SandboxLimitError, SpecError
from altai_release.core.limits import SandboxLimits
from altai_release.sandbox.output import check_srpm
from altai_release.sandbox.process import Running
from altai_release.specfile.rpmbuild import INNER_TOPDIR, Rpmbuild
from altai_release.specfile.spec import SPECQUERY, SpecInfo, spec_info, specquery_argv

MAX_SPEC_LINE = 16 * 1024 * 1024  # the spec reader's one line of JSON


class SrpmSession:
    def __init__(self, build: Rpmbuild, spec_file: Path, shown: str) -> None:
        self.build = build
        self.spec_file = spec_file
        self.shown = shown
        inner_spec = build.inner(spec_file)
        self.rpmbuild_argv = [*build.base_argv(), "--nodeps", "-bs", str(inner_spec)]
        self.argv = [
            *specquery_argv(inner_spec, build.defines, build.inner_macro_files),
            "--wait",
            "--then",
            *self.rpmbuild_argv,
        ]
        self._running: Running | None = None
        self._stack = ExitStack()

    def __enter__(self) -> SrpmSession:
        with ExitStack() as stack:
            stack.enter_context(self.build.writable_topdir())
            box = self.build.sandbox()
            box.readonly = list(dict.fromkeys([*box.readonly, SPECQUERY.parent]))
            self._running = stack.enter_context(box.start(self.argv, self.shown, cwd=INNER_TOPDIR, stdin=True))
            self._stack = stack.pop_all()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stack.__exit__(kind, exc, tb)

    def info(self) -> SpecInfo:
        """What the spec says (the spec reader's line), or the error that it does not parse. The sandbox
        started when the session was entered; the spec file must be written by now."""
        running = self._running
        assert running is not None
        assert running.proc.stdin is not None
        try:
            running.proc.stdin.write(b"read\n")
            running.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the reader ended already: what it said is read below
        limits = self.build.limits
        expired = threading.Event()

        def expire() -> None:  # a spec's %(...) may never return
            expired.set()
            running.kill()

        timer = threading.Timer(limits.spec_seconds, expire)
        timer.start()
        try:
            line = running.read_line(MAX_SPEC_LINE)
        finally:
            timer.cancel()
        running.drain_stdout()
        if expired.is_set():
            raise SpecError(
                f"{self.shown}: reading the spec took longer than {limits.spec_seconds:.0f}s, the sandbox's time "
                "limit; stopped",
                self.argv,
            )
        if not line.endswith(b"\n") and len(line) >= MAX_SPEC_LINE:
            raise SpecError(f"{self.shown}: the spec reader's answer is over {MAX_SPEC_LINE} bytes", self.argv)
        if not line.strip():
            said = self._finish(limits.spec_seconds)
            why = runner.reason(said, ("error:",)) or said
            raise BadSpecError(f"{self.shown}: spec does not parse", self.argv, why)
        try:
            running.check_limits()  # a spec whose forks failed may still have printed its line
        except SandboxLimitError as exc:
            raise SpecError(str(exc), self.argv) from exc
        return spec_info(line.decode("utf-8", "replace"), self.spec_file, self.shown, self.argv, "")

    def _finish(self, seconds: float, order: bytes | None = None) -> str:
        """Let the sandbox end (after `order` on its stdin) within `seconds`; what it said on stderr."""
        running = self._running
        assert running is not None
        try:
            said: str = running.wait(seconds, order).stderr
            return said
        except SandboxLimitError as exc:
            raise RpmbuildError(str(exc), self.rpmbuild_argv) from exc

    def build_srpm(self, source_date_epoch: int, dest: Path) -> Path:
        """Let the sandbox run `rpmbuild -bs` now that SOURCES holds the sources; the SRPM, taken into `dest`."""
        running = self._running
        assert running is not None
        said = self._finish(self.build.limits.build_seconds, f"run {source_date_epoch}\n".encode())
        if running.proc.returncode != 0:
            why = runner.reason(said, ("error:", "Bad exit status"), after="RPM build errors:", last=True)
            raise RpmbuildError(f"rpmbuild -bs {self.spec_file.name} failed", self.rpmbuild_argv, why)
        return self.build.take_srpm(self.spec_file, dest)


def srpm_from_files(
    shown: str,
    spec_name: str,
    spec: bytes,
    sources: Mapping[str, bytes],
    dist: str,
    epoch_time: int,
    outdir: Path,
    macro_files: Sequence[Path],
    limits: SandboxLimits,
) -> tuple[Path, SpecInfo]:
    """An SRPM made as git2srpm makes one (the spec read and `rpmbuild -bs` in one sandbox) from a spec and
    its source files as bytes, every file dated `epoch_time` (its SOURCE_DATE_EPOCH): the release package's,
    or an upstream SRPM's own spec and sources under the layout's dist, as mock rebuilds an SRPM."""
    work = outdir / "work"
    inputs = work / "in"
    build = Rpmbuild(
        topdir=work / "top",
        defines=[("dist", dist)] if dist else [],
        macro_files=list(macro_files),
        inputs={inputs / "SPECS": INNER_TOPDIR / "SPECS", inputs / "SOURCES": INNER_TOPDIR / "SOURCES"},
        limits=limits,
    )
    build.prepare()
    spec_file = inputs / "SPECS" / spec_name
    spec_file.write_bytes(spec)
    for file_name, data in sources.items():
        (inputs / "SOURCES" / file_name).write_bytes(data)
    for path in [spec_file, *(inputs / "SOURCES").iterdir()]:
        path.chmod(0o644)
        os.utime(path, (epoch_time, epoch_time))
    outdir.mkdir(parents=True, exist_ok=True)
    with SrpmSession(build, spec_file, shown) as session:
        info = session.info()
        srpm = session.build_srpm(epoch_time, outdir)
    check_srpm(srpm, info.source_nevra, shown)
    return srpm, info
