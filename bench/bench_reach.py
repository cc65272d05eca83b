"""What a change reaches, with real mock (`bench/run.py reach`):
- a graph of 50 tiny packages, 5 levels of 10, each package of a level BuildRequires two of the level below
  and copies their files into its own: built cold with `--all`; then one package of level 1 bumped and only
  it named: the packages rebuilt must be exactly its transitive dependents (checked), and the wall time of
  that run is reported beside a full rebuild of the 50 (`--all --rebuild`), the peer a person without the
  graph would run;
- the no-op `--all` (nothing changed) of the 50 with mock, and of 100 independent packages with the local
  builder (median of 5 each): the graph's reading of the published build roots must not slow it.
Needs root and mock (scripts/setup-mock.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_release import make_package_repos, write_layout
from common import GIT_ENV, TOOLS, Timing, median_time, print_table, run

sys.path.insert(0, str(TOOLS))

LEVELS, WIDTH = 5, 10
NOOP_REPEATS = 5
NODE = """\
Name: {name}
Version: {version}
Release: 1%{{?dist}}
Summary: node {name} of the bench graph
License: MIT
Source0: %{{name}}-%{{version}}.tar.gz
BuildArch: noarch
{requires}%description
Bench graph node.
%prep
%setup -q
%build
cat data.txt {reads} > all.txt
%install
mkdir -p %{{buildroot}}/usr/share/{name}
cp all.txt %{{buildroot}}/usr/share/{name}/
%files
/usr/share/{name}
"""


def node(level: int, i: int) -> str:
    return f"n{level}x{i}"


def needs(level: int, i: int) -> list[str]:
    return [] if level == 0 else [node(level - 1, i), node(level - 1, (i + 1) % WIDTH)]


def spec(level: int, i: int, version: str = "1.0") -> str:
    wanted = needs(level, i)
    return NODE.format(
        name=node(level, i),
        version=version,
        requires="".join(f"BuildRequires: {n}\n" for n in wanted),
        reads=" ".join(f"/usr/share/{n}/all.txt" for n in wanted),
    )


def dependents_of(name: str) -> set[str]:
    """The packages whose build root holds `name`, directly or through others."""
    found, frontier = set(), {name}
    while frontier:
        frontier = {
            node(level, i)
            for level in range(LEVELS)
            for i in range(WIDTH)
            if set(needs(level, i)) & frontier and node(level, i) not in found
        }
        found |= frontier
    return found


def make_graph(root: Path) -> list[Path]:
    repos = []
    for level in range(LEVELS):
        for i in range(WIDTH):
            repo = root / node(level, i)
            repo.mkdir(parents=True)
            (repo / f"{repo.name}.spec").write_text(spec(level, i))
            (repo / "data.txt").write_text(f"{repo.name}\n")
            run(["git", "init", "-q", "-b", "main"], cwd=repo)
            run(["git", "add", "-A"], cwd=repo)
            run(["git", "commit", "-q", "-m", "initial"], cwd=repo)
            repos.append(repo)
    return repos


def with_mock_root(layout: Path) -> None:
    text = layout.read_text()
    layout.write_text(text.replace("[keys.altai]", '[buildroot]\nbase = "host"\n\n[keys.altai]', 1))


def build(argv: list[str], env: dict[str, str]) -> tuple[float, list[dict[str, object]]]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **GIT_ENV, **env})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return seconds, json.loads(proc.stdout)["packages"]


def main() -> list[Timing]:
    from altai_release.builders import mock_unavailable

    if mock_unavailable() is not None:
        raise SystemExit(f"bench: mock cannot run here: {mock_unavailable()}")
    with tempfile.TemporaryDirectory(prefix="bench-reach-") as name:
        tmp = Path(name)
        gnupg = tmp / "gnupg"
        gnupg.mkdir(mode=0o700)
        env = {"GNUPGHOME": str(gnupg)}
        os.environ["GNUPGHOME"] = str(gnupg)  # median_time's runs too
        repos = make_graph(tmp / "graph")
        layout = write_layout(tmp / "layout" / "altai.toml", repos)
        with_mock_root(layout)
        tool = [sys.executable, str(TOOLS / "build.py"), "--layout", str(layout), "--state-dir", str(tmp / "state")]
        graph = [*tool, "--out", str(tmp / "out"), "--builder", "mock", "--jobs", "2", "--json", "-q"]
        cold, _ = build([*graph, "--all"], env)
        noop_mock = median_time("no-op --all, 50 in mock", [*graph, "--all"], NOOP_REPEATS)

        bumped = node(1, 0)
        repo = tmp / "graph" / bumped
        (repo / f"{bumped}.spec").write_text(spec(1, 0, "2.0"))
        (repo / "data.txt").write_text(f"{bumped} 2.0\n")
        run(["git", "commit", "-q", "-am", "2.0"], cwd=repo)
        reach, results = build([*graph, bumped], env)
        rebuilt = {str(r["package"]) for r in results if r["builder"] == "mock"}
        wanted = {bumped} | dependents_of(bumped)
        if rebuilt != wanted:
            raise SystemExit(f"bench: rebuilt {sorted(rebuilt)}, the transitive dependents are {sorted(wanted)}")
        full, _ = build([*graph, "--all", "--rebuild"], env)

        independent = make_package_repos(tmp / "independent", 100)
        flat = write_layout(tmp / "flat" / "altai.toml", independent)
        flat_run = [
            *tool[:2],
            "--layout",
            str(flat),
            "--state-dir",
            str(tmp / "state"),
            "--out",
            str(tmp / "flat-out"),
            "--builder",
            "rpmbuild",
        ]
        build([*flat_run, "--all", "--json", "-q"], env)
        noop_flat = median_time("no-op --all, 100 local", [*flat_run, "--all", "-q"], NOOP_REPEATS)
    rows = [
        Timing("--all --rebuild, 50 in mock (the peer)", full),
        Timing(f"{bumped} bumped: {len(rebuilt)} rebuilt", reach),
        Timing("cold --all, 50 in mock", cold),
        noop_mock,
        noop_flat,
    ]
    print_table("a change and what it reaches, real mock (same run)", rows, rows[0])
    print(
        f"rebuilt exactly {bumped} and its {len(wanted) - 1} transitive dependents; "
        f"no-op --all: {noop_mock.seconds:.2f} s (50, mock), {noop_flat.seconds:.2f} s (100, local; goal <= 0.2 s)"
    )
    return rows


if __name__ == "__main__":
    main()
