"""%autorelease and %autochangelog (rpmautospec): the Release and %changelog that Fedora's tooling computes
from the git history, for the commit being built. rpmautospec runs in the spec sandbox on a clean clone
checked out at that commit (its history is what it reads), on the system interpreter (the rpm bindings are
its), with rpmautospec and pygit2 from the first place that has them: the directory `$ALTAI_RPMAUTOSPEC`
names (a checkout's tools/*.py name the one scripts/setup.sh fills), the tool's own environment (`pip install
'altai-release[autospec]'`), or the system's (python3-rpmautospec). Like Fedora's, it wants the spec
at the root of the repository (the dist-git shape)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path, PurePosixPath

from altai_release.core import runner
from altai_release.core.errors import GitError, InputError, SandboxLimitError, SpecError
from altai_release.core.limits import SandboxLimits
from altai_release.sandbox.bubblewrap import Sandbox
from altai_release.sandbox.output import UnsafeOutput, read_text
from altai_release.sandbox.scratch import give_to_sandbox, scratch
from altai_release.specfile.spec import SYSTEM_PYTHON

LIBRARY_ENV = "ALTAI_RPMAUTOSPEC"
MISSING = (
    "rpmautospec is not installed: pip install 'altai-release[autospec]' where the tool is installed, or "
    f"dnf install python3-rpmautospec, or set {LIBRARY_ENV} to a directory holding rpmautospec and pygit2"
)
_HELPER = Path(__file__).with_name("autospec_helper.py")
MAX_SPEC_BYTES = 64 * 1024 * 1024  # a processed spec, %changelog of a long history included
_USES = re.compile(r"%(\{\??)?(autorelease|autochangelog)\b")


def uses_autospec(spec_text: str) -> bool:
    return bool(_USES.search(spec_text))


def rpmautospec_library() -> Path | None:
    """The directory to put on the sandboxed interpreter's path for rpmautospec, None when the system
    interpreter has it; one error naming what to install when nothing has it."""
    named = os.environ.get(LIBRARY_ENV)
    if named:
        if not (Path(named) / "rpmautospec").is_dir():
            raise InputError(f"{LIBRARY_ENV}={named}: no rpmautospec there; {MISSING}")
        return Path(named)
    import importlib.util  # found without importing it: its import costs, and the sandbox runs it anyway

    own = importlib.util.find_spec("rpmautospec")
    if own is not None and own.submodule_search_locations:
        return Path(next(iter(own.submodule_search_locations))).parent
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('rpmautospec') is None)"
    if runner.run([str(SYSTEM_PYTHON), "-I", "-c", probe], SpecError, "python3", check=False).returncode == 0:
        return None
    raise InputError(MISSING)


def process(
    repository: str, shown: str, commit: str, spec_path: PurePosixPath, work: Path, limits: SandboxLimits
) -> str:
    """The spec at `commit`, its %autorelease and %autochangelog expanded as rpmautospec does."""
    if spec_path.parent.parts:
        raise InputError(
            f"{shown}: {spec_path} uses %autorelease/%autochangelog, which rpmautospec computes only "
            "for a spec at the root of its repository (dist-git)"
        )
    library = rpmautospec_library()
    checkout = work / "autospec-checkout"
    git = shutil.which("git") or "git"
    # our own fresh clone: none of the repository's config or hooks comes along
    runner.run(
        [git, "clone", "-q", "--no-local", "--no-checkout", "--", repository, str(checkout)],
        GitError,
        f"{shown}: cannot clone for rpmautospec",
    )
    runner.run(
        [git, "-C", str(checkout), "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", commit],
        GitError,
        f"{shown}: cannot check out {commit[:12]} for rpmautospec",
    )
    give_to_sandbox(checkout, tree=True)  # libgit2 reads a repository only for its owner
    out = work / "autospec-out"
    argv = [str(SYSTEM_PYTHON), "-B", "-s", str(_HELPER), str(checkout / spec_path), str(out / spec_path.name)]
    # pygit2 loads the system's CA certificates when it starts (public data; it fetches nothing here)
    certs = [p for p in (Path("/etc/ssl/certs"),) if p.is_dir()]
    readonly = [*([library] if library else []), _HELPER.parent, checkout, *certs]
    env = {"PYTHONPATH": str(library)} if library else {}
    box = Sandbox(readonly=readonly, writable=[out], env=env, limits=limits)
    with scratch(out, limits):
        try:
            proc = box.run(argv, f"{shown}: {spec_path}: rpmautospec", limits.spec_seconds, cwd=checkout)
        except SandboxLimitError as exc:
            raise SpecError(str(exc), argv) from exc
        if proc.returncode != 0:
            why = runner.reason(proc.stderr, ("error:",))
            raise SpecError(f"{shown}: {spec_path}: rpmautospec failed", argv, why)
        # `out` was the sandbox's to write: the result may be a link to a host file, a FIFO or endless
        try:
            return read_text(out, spec_path.name, MAX_SPEC_BYTES)
        except UnsafeOutput as exc:
            raise SpecError(f"{shown}: rpmautospec's result {exc}", argv) from exc
        except OSError as exc:
            raise SpecError(f"{shown}: {spec_path}: rpmautospec wrote no result: {exc.strerror}", argv) from exc
