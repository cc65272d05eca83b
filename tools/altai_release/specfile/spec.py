"""Read a spec file (through the rpm bindings, inside the sandbox) into a typed SpecInfo."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from altai_release.core import runner
from altai_release.core.errors import BadSpecError, InputError, SandboxLimitError, SpecError
from altai_release.core.limits import DEFAULT_LIMITS, SandboxLimits
from altai_release.rpm.nevra import Nevra
from altai_release.sandbox.bubblewrap import Sandbox

SPECQUERY = Path(__file__).with_name("specquery.py")
# The spec reader runs on the system interpreter that owns the rpm bindings (Debian's python3-rpm): it
# lives under /usr, which the sandbox shows anyway, and it starts faster than the venv's shim.
SYSTEM_PYTHON = Path("/usr/bin/python3")


@dataclass(frozen=True)
class SpecSource:
    kind: str  # "source" or "patch"
    number: int
    location: str  # as written in the spec, macros expanded: a file name or a URL
    nosource: bool = False

    @property
    def tag(self) -> str:
        return f"{'Source' if self.kind == 'source' else 'Patch'}{self.number}"

    @property
    def filename(self) -> str:
        """The file name rpmbuild looks for in %_sourcedir: the basename, even of a URL."""
        path = urlsplit(self.location).path if "://" in self.location else self.location
        return PurePosixPath(path).name


@dataclass(frozen=True)
class BuildRequirement:
    name: str
    flags: int
    version: str


@dataclass(frozen=True)
class SpecInfo:
    path: Path
    name: str
    epoch: int | None
    version: str
    release: str
    sources: tuple[SpecSource, ...]
    build_requires: tuple[BuildRequirement, ...]
    packages: tuple[str, ...]
    provides: tuple[str, ...]
    noarch: bool

    @property
    def source_nevra(self) -> Nevra:
        return Nevra(self.name, self.epoch, self.version, self.release, "src")

    @property
    def source0(self) -> SpecSource:
        for src in self.sources:
            if src.kind == "source" and src.number == 0:
                return src
        raise BadSpecError(f"{self.path.name}: the spec has no Source0 (or Source) tag")

    @property
    def extra_files(self) -> tuple[SpecSource, ...]:
        """Every SourceN/PatchN other than Source0: files that must come from the repository."""
        return tuple(s for s in self.sources if not (s.kind == "source" and s.number == 0) and not s.nosource)


def specquery_argv(
    spec_file: Path, defines: Sequence[tuple[str, str]] = (), macro_files: Sequence[Path] = ()
) -> list[str]:
    """The spec reader's command line (it runs in a sandbox that shows it `spec_file` and the macros)."""
    if not SYSTEM_PYTHON.exists():
        raise SpecError(f"{SYSTEM_PYTHON} with rpm bindings (python3-rpm) is needed to read specs")
    argv: list[str] = [str(SYSTEM_PYTHON), "-B", "-S", "-s", str(SPECQUERY), str(spec_file)]
    for name, value in defines:
        argv += ["--define", f"{name} {value}"]
    for macros in macro_files:
        argv += ["--macros", str(macros)]
    return argv


def read_spec(
    spec_file: Path,
    defines: Sequence[tuple[str, str]] = (),
    macro_files: Sequence[Path] = (),
    display_name: str | None = None,
    limits: SandboxLimits = DEFAULT_LIMITS,
) -> SpecInfo:
    """Parse `spec_file` with rpm in a sandbox. `display_name` is how errors name the spec."""
    from altai_release.specfile.rpmbuild import INNER_TOPDIR, Rpmbuild  # its staging of the macro files

    shown = display_name or str(spec_file)
    with tempfile.TemporaryDirectory(prefix="altai-spec-") as tmp:
        # the spec and the macros as copies in a directory of ours, which the sandbox's user may read
        specs = Path(tmp) / "SPECS"
        staged = Rpmbuild(Path(tmp) / "top", macro_files=macro_files, inputs={specs: INNER_TOPDIR / "SPECS"})
        staged.prepare()
        shutil.copyfile(spec_file, specs / spec_file.name)
        argv = specquery_argv(INNER_TOPDIR / "SPECS" / spec_file.name, defines, staged.inner_macro_files)
        box = Sandbox(readonly=[SPECQUERY.parent], inputs=staged.inputs, limits=limits)
        try:
            proc = box.run(argv, shown, limits.spec_seconds, cwd=INNER_TOPDIR / "SPECS")
        except SandboxLimitError as exc:
            raise SpecError(str(exc), argv) from exc
    if proc.returncode != 0:
        raise BadSpecError(f"{shown}: spec does not parse", argv, runner.reason(proc.stderr, ("error:",)))
    return spec_info(proc.stdout, spec_file, shown, argv, proc.stderr)


def spec_info(output: str, spec_file: Path, shown: str, argv: Sequence[str], stderr: str) -> SpecInfo:
    """The spec reader's JSON as a checked SpecInfo."""
    try:
        raw = json.loads(output)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{shown}: unreadable result from the spec reader", argv, stderr) from exc
    info = SpecInfo(
        path=spec_file,
        name=raw["name"],
        epoch=raw["epoch"],
        version=raw["version"],
        release=raw["release"],
        sources=tuple(SpecSource(**s) for s in raw["sources"]),
        build_requires=tuple(BuildRequirement(**b) for b in raw["build_requires"]),
        packages=tuple(p["name"] for p in raw["packages"]),
        provides=tuple(sorted({prov for p in raw["packages"] for prov in p["provides"]})),
        noarch=raw["noarch"],
    )
    check_expanded(info, shown)
    return info


# what rpm leaves in place when a macro is not defined: %{name ...} (not %name: a URL's %C3 looks alike)
_UNEXPANDED = re.compile(r"%\{[?!]*(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


def check_expanded(info: SpecInfo, shown: str) -> None:
    """A macro the host's rpm does not know stays in the value as written; name it instead of failing
    later on a strange file name."""
    fields = [("Name", info.name), ("Version", info.version), ("Release", info.release)]
    fields += [(s.tag, s.location) for s in info.sources]
    for tag, value in fields:
        match = _UNEXPANDED.search(value)
        if match:
            macro = "%{" + match.group("name") + "}"
            raise InputError(
                f"{shown}: {tag}: macro {macro} is not defined "
                "(add it to the layout's macros, or give git2srpm --macros FILE or --define)"
            )


def choose_spec(location: str, commit_files: list[str], directory: PurePosixPath) -> PurePosixPath:
    specs = [name for name in commit_files if name.endswith(".spec")]
    where = str(directory) if directory.parts else "the repository root"
    if not specs:
        raise InputError(f"{location}: no *.spec file in {where}; name one with --spec")
    if len(specs) > 1:
        raise InputError(f"{location}: several spec files in {where} ({', '.join(specs)}); choose one with --spec")
    return directory / specs[0]
