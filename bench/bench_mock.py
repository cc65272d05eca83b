"""The mock builder against bare mock and against the local builder, in the same run (`bench/run.py mock`).

- per package: the builder's `build()` of one SRPM (its config, the jail, the results read back and checked)
  against bare mock (the same program, config and arguments in the same jail, without the tool around it),
  with a warm root cache, and the first build of a fresh cache for both; and the local builder's `build()`;
- the shipped layout: `tools/build.py --all --builder mock --rebuild` (three packages, signed, published).
Packages: a trivial noarch one and nova-fping (its build root installs Python). Needs root and mock
(scripts/setup-mock.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from common import ROOT, TOOLS, Timing, median_time, print_table

sys.path.insert(0, str(TOOLS))
sys.path.insert(0, str(ROOT / "tests"))

REPEATS = 5
TRIVIAL = """\
Name: trivial
Version: 1
Release: 1%{?dist}
Summary: A package with one file
License: MIT
BuildArch: noarch
%description
One file.
%install
mkdir -p %{buildroot}/usr/share/trivial
echo 1 > %{buildroot}/usr/share/trivial/one
%files
/usr/share/trivial
"""


def _srpms(work: Path) -> dict[str, Path]:
    spec = work / "trivial.spec"
    spec.write_text(TRIVIAL)
    subprocess.run(
        ["rpmbuild", "-bs", "--quiet", "--define", f"_topdir {work / 'top'}", "--define", "dist .el6", str(spec)],
        check=True,
        capture_output=True,
    )
    nova = subprocess.run(
        [
            sys.executable,
            str(TOOLS / "git2srpm.py"),
            "--dist",
            ".el6",
            "--subdir",
            "src/nova-fping",
            "--spec",
            "specs/nova-fping.spec",
            "--outdir",
            str(work / "nova"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return {"trivial": next((work / "top" / "SRPMS").glob("*.src.rpm")), "nova-fping": Path(nova.stdout.split()[-1])}


def main() -> list[Timing]:
    from altai_release.builders import make_builder, mock_unavailable
    from altai_release.builders.builder import BuildJob
    from altai_release.builders.mock import MockBuilder
    from altai_release.builders.mockjail import JailedRun, MockJails, dbpath_macros
    from altai_release.layout import load_layout

    if mock_unavailable() is not None:
        raise SystemExit(f"bench: mock cannot run here: {mock_unavailable()}")
    layout = load_layout(ROOT / "repo-layout" / "altai.toml")
    rows: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="bench-mock-") as name:
        work = Path(name)
        state = work / "state"
        srpms = _srpms(work)
        builders = {
            kind: make_builder(kind, layout, work / "out", None, work / "staging", state)
            for kind in ("mock", "rpmbuild")
        }
        for builder in builders.values():
            builder.start({})
        mock = builders["mock"]
        assert isinstance(mock, MockBuilder)
        counter = iter(range(10_000))

        def job(package: str) -> BuildJob:
            where = work / "jobs" / str(next(counter))
            (where / "logs").mkdir(parents=True)
            entry = layout.packages.get(package) or layout.packages["nova-fping"]
            return BuildJob(
                entry, srpms[package], where, where / "logs", 1_700_000_000, where.name, packages=(package,)
            )

        def by_builder(kind: str, package: str) -> None:
            builders[kind].build(job(package))

        def made(directory: Path) -> Path:
            directory.mkdir(parents=True, exist_ok=True)
            return directory

        def bare(package: str) -> None:
            """The same program, config and arguments in the same jail, nothing of the tool around them."""
            one = job(package)
            config = one.workdir / "bare.cfg"
            config.write_text(mock.config(one))
            result = made(one.workdir / "result")
            roots = [made(one.workdir / "mock-root"), made(state / "cache" / "mock")]
            shown = [one.workdir, one.srpm.parent, *mock.base(layout.mock_chroot).shown]
            macros = dbpath_macros(one.workdir / "macros.d")
            argv = mock.argv(config, one, result)
            jailed = JailedRun(
                mock.install, argv, shown, roots, result, made(one.workdir / "dnf"), macros, layout.sandbox
            )
            done = MockJails().run(jailed, "bare mock", 3600)
            if done.returncode != 0:
                raise SystemExit(f"bench: bare mock failed: {done.stdout[-2000:]}")

        def cold() -> None:
            shutil.rmtree(state / "cache" / "mock", ignore_errors=True)

        for package in ("trivial", "nova-fping"):
            by_builder("mock", package)  # the root cache, warm
            rows.append(median_time(f"bare mock, {package}", partial(bare, package), REPEATS))
            rows.append(median_time(f"mock builder, {package}", partial(by_builder, "mock", package), REPEATS))
            rows.append(median_time(f"local builder, {package}", partial(by_builder, "rpmbuild", package), REPEATS))
        rows.append(median_time("bare mock, trivial, cold cache", partial(bare, "trivial"), 2, reset=cold))
        cold_builder = partial(by_builder, "mock", "trivial")
        rows.append(median_time("mock builder, trivial, cold cache", cold_builder, 2, reset=cold))
        out, env = work / "release", {**os.environ, "GNUPGHOME": str(work / "gnupg")}
        argv = [
            sys.executable,
            str(TOOLS / "build.py"),
            "--all",
            "--builder",
            "mock",
            "--rebuild",
            "--out",
            str(out),
            "--state-dir",
            str(state),
            "-q",
        ]

        def release() -> None:
            subprocess.run(argv, check=True, capture_output=True, env=env)

        release()  # the shipped layout's root cache (with Python)
        rows.append(median_time("build.py --all --builder mock (shipped, 3)", release, 3))
    baseline = rows[0]
    print_table("mock builder against bare mock and the local builder (same run)", rows, baseline)
    for package in ("trivial", "nova-fping"):
        bare_t = next(r for r in rows if r.name == f"bare mock, {package}")
        ours = next(r for r in rows if r.name == f"mock builder, {package}")
        print(f"{package}: mock builder / bare mock = {ours.seconds / bare_t.seconds:.2f}x (goal <= 1.10x)")
    return rows


if __name__ == "__main__":
    main()
