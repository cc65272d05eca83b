"""The rpmbuild wrapper. Every call runs in the sandbox with a private topdir, a clean environment and
the macros that make the result reproducible (fixed build host, build time = SOURCE_DATE_EPOCH)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import runner
from .errors import RpmbuildError
from .sandbox import BUILD_HOSTNAME, Sandbox

BUILD_TIMEOUT = 3600.0
# Where the private topdir appears inside the sandbox (mock's path): rpm records %prep's expanded paths
# in the SRPM header, so a per-run temporary path would make every SRPM different.
INNER_TOPDIR = Path("/builddir/build")


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

    def base_argv(self) -> list[str]:
        top = INNER_TOPDIR
        argv = [rpmbuild_path()]
        for macros in self.macro_files:
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
            ("_buildhost", BUILD_HOSTNAME),
            ("use_source_date_epoch_as_buildtime", "1"),
            ("clamp_mtime_to_source_date_epoch", "1"),
            # EL6's rpm reads only gzip/xz payloads and md5/sha256 digests: keep what it can install.
            ("_source_payload", "w9.gzdio"),
            ("_binary_payload", "w9.gzdio"),
            ("_source_filedigest_algorithm", "8"),
            ("_binary_filedigest_algorithm", "8"),
            *self.defines,
        ]
        for name, value in pairs:
            argv += ["--define", f"{name} {value}"]
        return argv

    def prepare(self) -> None:
        for sub in ("BUILD", "BUILDROOT", "RPMS", "SRPMS", "SOURCES", "SPECS", "tmp"):
            (self.topdir / sub).mkdir(parents=True, exist_ok=True)

    def _run(self, args: list[str], what: str, log: Path | None) -> str:
        env = {}
        if self.source_date_epoch is not None:
            env["SOURCE_DATE_EPOCH"] = str(self.source_date_epoch)
        box = Sandbox(readonly=list(self.readonly), mounted={self.topdir: INNER_TOPDIR}, env=env)
        argv = self.base_argv() + args
        proc = box.run(argv, cwd=INNER_TOPDIR, timeout=BUILD_TIMEOUT)
        output = proc.stdout + proc.stderr
        if log is not None:
            log.write_text(output, encoding="utf-8")
        if proc.returncode != 0:
            # rpmbuild ends with 'RPM build errors:' and the reasons; the last one is what the user needs
            why = runner.reason(proc.stderr, ("error:", "Bad exit status"), after="RPM build errors:", last=True)
            raise RpmbuildError(what, argv, why)
        return output

    def built_srpm(self, spec: Path) -> Path:
        """The one SRPM that `rpmbuild -bs` of `spec` wrote (srpmsession runs it, in the spec reader's sandbox)."""
        found = sorted((self.topdir / "SRPMS").glob("*.src.rpm"))
        if len(found) != 1:
            raise RpmbuildError(f"rpmbuild -bs {spec.name} wrote {len(found)} source packages, expected 1")
        return found[0]

    def rebuild(self, srpm: Path, log: Path | None = None) -> list[Path]:
        """`rpmbuild --rebuild` of an SRPM in the topdir without checking BuildRequires (Debian's rpmdb is
        empty)."""
        inner = INNER_TOPDIR / srpm.relative_to(self.topdir)
        self._run(["--nodeps", "--rebuild", str(inner)], f"rpmbuild --rebuild {srpm.name} failed", log)
        return sorted((self.topdir / "RPMS").rglob("*.rpm"))
