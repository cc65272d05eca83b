"""A failed mock explained from the log that holds the reason, as kojid reads mock's logs. Whether rpmbuild ran
is what state.log says (`Start: rpmbuild`): build.log gets `rpmbuild -bs`'s lines before `dnf builddep`
runs, so a line there does not mean the build ran. A build root that could not be made (a BuildRequires
nothing provides, a runtime Requires of one that nothing provides, a package of the run not built) is said
with the names dnf gave, from root.log or mock's own output, where dnf writes them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from altai_release.core import runner
from altai_release.core.errors import MockError

CONFIG_ERROR = 3  # mock's ConfigError
_NO_MATCH = (
    re.compile(r"No matching package to install: '([^']+)'"),
    re.compile(r"No match for argument: (\S+)"),
)
_NOTHING_PROVIDES = re.compile(r"nothing provides (.+?) needed by (\S+)")


def rpmbuild_ran(state_log: str) -> bool:
    return any("Start: rpmbuild" in line for line in state_log.splitlines())


def build_root_reason(text: str) -> str:
    """What dnf could not install, in one phrase; '' when it says none of it."""
    missing = list(dict.fromkeys(m for pattern in _NO_MATCH for m in pattern.findall(text)))
    if missing:
        return "no package provides the BuildRequires " + ", ".join(missing)
    needed: dict[str, list[str]] = {}
    for name, package in _NOTHING_PROVIDES.findall(text):
        needed.setdefault(package, []).append(name)
    if needed:
        said = "; ".join(f"{', '.join(dict.fromkeys(names))} needed by {package}" for package, names in needed.items())
        return (
            f"nothing provides {said} (a Requires of a BuildRequires: give a repository that has them, or name "
            "them as the layout's [buildroot] stubs)"
        )
    lines = text.splitlines()
    for number in range(len(lines) - 1, -1, -1):
        said = lines[number].split(":", 1)[1].strip() if lines[number].lstrip().startswith(("Error:", "ERROR:")) else ""
        if said == "Command failed:" or said == "Command failed":  # mock names the command on the next line
            command = lines[number + 1].strip().lstrip("# ") if number + 1 < len(lines) else ""
            return f"a command failed: {command}" if command else said
        if said:
            return said
    return ""


def failure(name: str, logdir: Path, status: int, output: str, logs: Mapping[str, str], argv: list[str]) -> MockError:
    """The reason of a failed mock, from the log that holds it (as kojid reads mock's logs)."""
    if status == CONFIG_ERROR:
        why = runner.reason(output, ("ERROR:",), last=True)
        return MockError(f"{name}: mock refused its config (log: {logdir / 'mock.log'})", argv, why)
    if rpmbuild_ran(logs.get("state.log", "")):
        why = runner.reason(
            logs.get("build.log", ""), ("error:", "Bad exit status"), after="RPM build errors:", last=True
        )
        return MockError(f"{name}: build failed in mock (log: {logdir / 'build.log'})", argv, why)
    why = build_root_reason(logs.get("root.log", "")) or build_root_reason(output)
    if why or "root.log" in logs:
        why = why or runner.reason(output, ("ERROR:",), last=True)
        return MockError(f"{name}: mock could not prepare the build root (log: {logdir / 'root.log'})", argv, why)
    why = runner.reason(output, ("ERROR:",), last=True)
    return MockError(f"{name}: mock failed (exit {status}; log: {logdir / 'mock.log'})", argv, why)
