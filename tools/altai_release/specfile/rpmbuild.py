"""The rpmbuild wrapper. Every call runs in the sandbox with a private topdir, a clean environment and
the macros that make the result reproducible (fixed build host, build time = SOURCE_DATE_EPOCH). Its inputs
(spec, sources, the SRPM to rebuild) sit in host directories the sandbox sees read-only; its results are
taken back through sandbox_output."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from altai_release.core import runner
from altai_release.core.errors import RpmbuildError, SandboxLimitError
from altai_release.core.limits import DEFAULT_LIMITS, SandboxLimits
from altai_release.core.userfiles import read_bytes
from altai_release.sandbox.bubblewrap import BUILD_HOSTNAME, Sandbox
from altai_release.sandbox.output import take_files
from altai_release.sandbox.scratch import scratch

# Where the private topdir appears inside the sandbox (mock's path): rpm records %prep's expanded paths
# in the SRPM header, so a per-run temporary path would make every SRPM different.
# What makes a build reproducible: set on every local build, and asked of a Koji build tag as its rpm.macro.*
# extras (koji edit-tag TAG -x rpm.macro.NAME=VALUE), so that a Koji build and a local one give the same bytes
REPRODUCIBLE_MACROS = {
    "_buildhost": BUILD_HOSTNAME,
    # the package's time: ours is its SOURCE_DATE_EPOCH (the last change of its inputs); a build system
    # that sets none (kojid) takes the newest %changelog entry's
    "source_date_epoch_from_changelog": "1",
    "use_source_date_epoch_as_buildtime": "1",
    "clamp_mtime_to_source_date_epoch": "1",
    # EL6's rpm reads only gzip/xz payloads and md5/sha256 digests: keep what it can install.
    "_source_payload": "w9.gzdio",
    "_binary_payload": "w9.gzdio",
    "_source_filedigest_algorithm": "8",
    "_binary_filedigest_algorithm": "8",
}
INNER_TOPDIR = Path("/builddir/build")
TOPDIR_SUBDIRS = ("BUILD", "BUILDROOT", "RPMS", "SRPMS", "SOURCES", "SPECS", "tmp")
INNER_MACROS = Path("/builddir/macros")  # the layout's macro files, as copies: no host path inside
MACRO_FILE_LIMIT = 4 * 1024 * 1024


def rpmbuild_path() -> str:
    found = shutil.which("rpmbuild")
    if not found:
        raise RpmbuildError("rpmbuild is not installed; run scripts/setup.sh")
    return found


@dataclass
class Rpmbuild:
    """One private rpmbuild topdir. `defines` are extra `--define` pairs (e.g. dist), `macro_files` are
    loaded before them (the layout's Fedora/EL macro fallbacks)."""

    topdir: Path
    defines: Sequence[tuple[str, str]] = ()
    macro_files: Sequence[Path] = ()
    source_date_epoch: int | None = None
    readonly: list[Path] = field(default_factory=list)
    # host directories the step reads, shown read-only at a path under INNER_TOPDIR (e.g. SOURCES): the
    # host writes into them, and nothing the spec does can put a link there for the host to follow
    inputs: dict[Path, Path] = field(default_factory=dict)
    limits: SandboxLimits = DEFAULT_LIMITS
    macros: Mapping[str, str] = field(default_factory=lambda: dict(REPRODUCIBLE_MACROS))

    @property
    def inner_macro_files(self) -> list[Path]:
        """Where the macro files appear inside: copies of ours (`prepare`), not the layout's directory."""
        return [INNER_MACROS / f"{i}-{m.name}" for i, m in enumerate(self.macro_files)]

    def base_argv(self) -> list[str]:
        top = INNER_TOPDIR
        argv = [rpmbuild_path()]
        for macros in self.inner_macro_files:
            argv.append(f"--load={macros}")
        pairs: list[tuple[str, str]] = [
            ("_topdir", str(top)),
            ("_builddir", str(top / "BUILD")),
            ("_buildrootdir", str(top / "BUILDROOT")),
            ("_rpmdir", str(top / "RPMS")),
            ("_srcrpmdir", str(top / "SRPMS")),
            ("_sourcedir", str(top / "SOURCES")),
            ("_specdir", str(top / "SPECS")),
            ("_tmppath", str(top / "tmp")),
            # an SRPM's files as mock's rpmbuild -bs records them (its builder's user): the sources here are the
            # host's, nobody's in the sandbox, and Koji keeps the SRPM that mock makes again from ours
            ("_srcdefattr", "(-,mockbuild,mock)"),
            *self.macros.items(),
            *self.defines,
        ]
        for name, value in pairs:
            argv += ["--define", f"{name} {value}"]
        return argv

    def prepare(self) -> None:
        """The input directories, for the host to write into (the sandbox's user reads them), and a copy of
        the macro files beside the topdir."""
        if self.macro_files:
            copies = self.topdir.with_name(self.topdir.name + ".macros")
            self.inputs[copies] = INNER_MACROS
            copies.mkdir(parents=True, exist_ok=True)
            for source, inside in zip(self.macro_files, self.inner_macro_files, strict=True):
                (copies / inside.name).write_bytes(read_bytes(source, "macro file", MACRO_FILE_LIMIT))
        for host in self.inputs:
            host.mkdir(parents=True, exist_ok=True)
            host.chmod(0o755)

    @contextmanager
    def writable_topdir(self) -> Iterator[None]:
        """The topdir, the sandbox's to write under its disk quota, while the block runs: the results are
        taken within it."""
        with scratch(self.topdir, self.limits, TOPDIR_SUBDIRS):
            yield

    def inner(self, path: Path) -> Path:
        """Where a host path of the topdir or of an input directory appears inside the sandbox."""
        for host, inside in self.inputs.items():
            if path.is_relative_to(host):
                return inside / path.relative_to(host)
        return INNER_TOPDIR / path.relative_to(self.topdir)

    def sandbox(self, env: dict[str, str] | None = None) -> Sandbox:
        return Sandbox(
            readonly=list(self.readonly),
            mounted={self.topdir: INNER_TOPDIR},
            inputs=dict(self.inputs),
            env=env or {},
            limits=self.limits,
        )

    def _run(self, args: list[str], what: str, log: Path | None) -> str:
        env = {}
        if self.source_date_epoch is not None:
            env["SOURCE_DATE_EPOCH"] = str(self.source_date_epoch)
        argv = self.base_argv() + args
        try:
            proc = self.sandbox(env).run(argv, what, self.limits.build_seconds, cwd=INNER_TOPDIR)
        except SandboxLimitError as exc:
            if log is not None:
                log.write_text(exc.output, encoding="utf-8")
            raise RpmbuildError(what, argv, str(exc).removeprefix(f"{what}: ")) from exc
        output: str = proc.stdout + proc.stderr
        if log is not None:
            log.write_text(output, encoding="utf-8")
        if proc.returncode != 0:
            # rpmbuild ends with 'RPM build errors:' and the reasons; the last one is what the user needs
            why = runner.reason(proc.stderr, ("error:", "Bad exit status"), after="RPM build errors:", last=True)
            raise RpmbuildError(what, argv, why)
        return output

    def take_srpm(self, spec: Path, dest: Path) -> Path:
        """The one SRPM that `rpmbuild -bs` of `spec` wrote (srpmsession runs it, in the spec reader's
        sandbox), copied into `dest` as a regular file."""
        found = take_files(self.topdir, "SRPMS", ".rpm", dest, self.limits.file_size, depth=0)
        if len(found) != 1:
            raise RpmbuildError(f"rpmbuild -bs {spec.name} wrote {len(found)} packages, expected 1 source package")
        return found[0]

    def rebuild(self, srpm: Path, results: Path, log: Path | None = None) -> list[Path]:
        """`rpmbuild --rebuild` of an SRPM (in an input directory) without checking BuildRequires (Debian's
        rpmdb is empty); the binary packages it wrote, copied into `results` as regular files."""
        self._run(["--nodeps", "--rebuild", str(self.inner(srpm))], f"rpmbuild --rebuild {srpm.name} failed", log)
        return take_files(self.topdir, "RPMS", ".rpm", results, self.limits.file_size)
