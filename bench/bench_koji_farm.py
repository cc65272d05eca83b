"""A build farm (`bench/run.py farm`): 24 packages whose %build does 2-4 s of CPU work (sha256 of 0.5-1 GB of
zeros), built for real on the private Koji (scripts/koji/private-koji.sh, started here with two kojid hosts):
on one kojid host (the other disabled) and on two, against the project's mock builder with `--jobs 2`, wall
times in one run; and the hub's own overhead per task from its database: from a buildArch task's creation to
a kojid taking it, and from the end of that task to the end of its build task (tagging, the parent's wait).
Each Koji run has a target and Releases of its own (Koji builds an NVR once). Needs root and mock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_release import SPEC as PLAIN_SPEC
from bench_release import make_package_repos, write_layout
from common import GIT_ENV, ROOT, TOOLS, Timing, print_table

PACKAGES = 24
# bench_release's package, with CPU work in its %build (the file it makes is packaged with the rest)
WORK = (
    "head -c $(( (512 + 0x$(echo %{{name}} | sha256sum | cut -c1-2) * 2) * 1024 * 1024 )) /dev/zero"
    " | sha256sum > work.txt"
)
SPEC = PLAIN_SPEC.replace("%install\n", f"%build\n{WORK}\n%install\n", 1)
SCRIPT = ROOT / "scripts" / "koji" / "private-koji.sh"


def koji_env() -> dict[str, str]:
    up = subprocess.run(
        [str(SCRIPT), "up"], capture_output=True, text=True, env={**os.environ, "ALTAI_KOJI_HOSTS": "2"}
    )
    if up.returncode != 0:
        raise SystemExit(f"bench: the private Koji did not start:\n{up.stderr[-3000:]}")
    facts = subprocess.run([str(SCRIPT), "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in facts.split())


def admin(hub: dict[str, str], *args: str) -> None:
    subprocess.run(
        [str(ROOT / ".venv/bin/koji"), f"--config={hub['KOJI_CONFIG']}", "-p", "admin", *args],
        check=True,
        capture_output=True,
    )


def on_target(layout: Path, hub: dict[str, str], prefix: str, repos: list[Path]) -> None:
    """The layout pointed at a new target, and every package at a Release of that run's own."""
    subprocess.run([str(SCRIPT), "add-target", prefix], check=True, capture_output=True)
    admin(hub, "add-pkg", "--owner", "altai-release", f"{prefix}-el6", *[r.name for r in repos], "bench-release")
    for repo in repos:
        spec = repo / f"{repo.name}.spec"
        spec.write_text(SPEC.format(name=repo.name).replace("Release: 1%", f"Release: 1.{prefix}%"))
        subprocess.run(["git", "commit", "-q", "-am", prefix], cwd=repo, check=True, env={**os.environ, **GIT_ENV})
    text = layout.read_text().split("\n[koji]\n")[0]
    layout.write_text(
        text
        + f'\n[koji]\nprofile = "altai"\ntarget = "{prefix}-candidate"\nscratch = false\n'
        + f'config = "{hub["KOJI_CONFIG"]}"\npoll_interval = 1\n'
    )


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **GIT_ENV, **env})
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[-6:])} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def hub_overhead(hub: dict[str, str], prefix: str) -> tuple[float, float]:
    """Median seconds from a buildArch task's creation to its start, and from its end to its build's end."""
    query = f"""
        SELECT EXTRACT(EPOCH FROM a.start_time - a.create_time),
               EXTRACT(EPOCH FROM b.completion_time - a.completion_time)
        FROM task a JOIN task b ON a.parent = b.id
        WHERE a.method = 'buildArch' AND b.method = 'build' AND b.request LIKE '%{prefix}-candidate%'
    """
    sock = Path(hub["ALTAI_KOJI_DIR"]) / "pgsock"
    out = subprocess.run(
        ["psql", "-h", str(sock), "-U", "koji", "-d", "koji", "-At", "-F", " ", "-c", query],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    rows = [tuple(float(x) for x in line.split()) for line in out if line.strip()]
    taken = sorted(r[0] for r in rows)
    closed = sorted(r[1] for r in rows)
    return taken[len(taken) // 2], closed[len(closed) // 2]


def main() -> list[Timing]:
    sys.path.insert(0, str(TOOLS))
    hub = koji_env()
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as name:
        tmp = Path(name)
        gnupg = tmp / "gnupg"
        gnupg.mkdir(mode=0o700)
        env = {"GNUPGHOME": str(gnupg)}
        repos = make_package_repos(tmp / "packages", PACKAGES, SPEC, prefix="farm")
        layout = write_layout(tmp / "layout" / "altai.toml", repos)
        layout.write_text(layout.read_text().replace("[keys.altai]", '[buildroot]\nbase = "host"\n\n[keys.altai]', 1))
        tool = [sys.executable, str(TOOLS / "build.py"), "--layout", str(layout), "--state-dir", str(tmp / "state")]
        mock = timed([*tool, "--out", str(tmp / "mock"), "--builder", "mock", "--jobs", "2", "--all", "-q"], env)
        rows, overhead = [Timing(f"mock builder, --jobs 2, {PACKAGES} packages (the peer)", mock)], {}
        stamp = str(int(time.time()))[-6:]
        for hosts in (1, 2):
            admin(hub, "enable-host" if hosts == 2 else "disable-host", "altai-builder-2")
            prefix = f"farm{hosts}x{stamp}"
            on_target(layout, hub, prefix, repos)
            out = tmp / f"koji{hosts}"
            seconds = timed([*tool, "--out", str(out), "--builder", "koji", "--jobs", "8", "--all", "-q"], env)
            rows.append(Timing(f"koji, {hosts} kojid host{'s' if hosts > 1 else ''}, --jobs 8", seconds))
            overhead[hosts] = hub_overhead(hub, prefix)
        admin(hub, "enable-host", "altai-builder-2")
    print_table(f"{PACKAGES} packages with 2-4 s of %build each, built for real", rows, rows[0])
    for hosts, (taken, closed) in overhead.items():
        print(
            f"  hub overhead, {hosts} host(s): buildArch created -> taken {taken:.1f} s, "
            f"done -> build closed {closed:.1f} s"
        )
    print(json.dumps({h: {"taken_s": t, "closed_s": c} for h, (t, c) in overhead.items()}))
    return rows
