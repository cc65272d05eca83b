"""Release builds at scale, against the peers in the same run:
- 100 small packages (each its own git repo): a cold `build.py --all` with --jobs 1, 2 and 3, and a
  no-op `build.py --all` (nothing changed); peers: `tito build --srpm --test` per package, and the
  ceiling of parallel builds on this machine: bare `rpmbuild --rebuild` of the same SRPMs by a pool of 1
  and of 2 workers (no sandbox, no signing, no release tree).
- a release of 2,000 packages: adding one package (our incremental metadata + hard links) against
  `createrepo_c` over the whole repository and `createrepo_c --update`.
- peak RSS of the tool at 100 and 2,000 packages.
- CPU seconds of the cold runs and of the bare pools, every process included (gpg-agent, the sandboxes'
  children), from a cgroup of the bench's own where it can make one (root)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from common import GIT_ENV, ROOT, TOOLS, CpuMeter, run

T = TypeVar("T")

SPEC = """\
Name: {name}
Version: 1.0
Release: 1%{{?dist}}
Summary: bench package {name}
License: MIT
Source0: %{{name}}-%{{version}}.tar.gz
BuildArch: noarch
%description
Bench.
%prep
%setup -q
%install
mkdir -p %{{buildroot}}/usr/share/{name}
cp -a . %{{buildroot}}/usr/share/{name}/
%files
/usr/share/{name}
"""

ASSEMBLE = """
import sys, time
sys.path.insert(0, {tools!r})
from pathlib import Path
from altai_release.layout import load_layout
from altai_release.release.publish.policy import NewFile
from altai_release.release.publish.store import ReleaseStore
from altai_release.release.publish.tree import assemble_release
layout = load_layout(Path({layout!r}))
store = ReleaseStore(Path({out!r}))
files = [NewFile(p, "centos6", p.name, "altai") for p in sorted(Path({rpms!r}).glob("*.rpm"))]
start = time.perf_counter()
with store.lock():
    made = assemble_release(store, layout, additions=files, replaced_origins={{f.origin for f in files}},
                            public_keys={{"altai": b"bench key"}}, base_url=None)
    store.publish(made[0])
print(time.perf_counter() - start)
"""


def make_package_repos(root: Path, count: int, spec: str = SPEC, prefix: str = "bench") -> list[Path]:
    """`count` git repositories, each a package whose spec is `spec` with its {name}."""
    repos = []
    for i in range(count):
        name = f"{prefix}{i:03d}"
        repo = root / name
        repo.mkdir(parents=True)
        (repo / f"{name}.spec").write_text(spec.format(name=name))
        (repo / "data.txt").write_text(f"{name}\n" * 50)
        run(["git", "init", "-q", "-b", "main"], cwd=repo)
        run(["git", "add", "-A"], cwd=repo)
        run(["git", "commit", "-q", "-m", "initial"], cwd=repo)
        repos.append(repo)
    return repos


def write_layout(path: Path, repos: list[Path]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "templates").symlink_to(ROOT / "repo-layout" / "templates")
    text = textwrap.dedent("""\
        [release]
        name = "bench"
        version = "1"
        dist = ".el6"
        mock_chroot = "epel-6-x86_64"

        [keys.altai]
        id = "Bench Release Key"
        development = true

        [repositories.centos6]
        path = "centos6"
        signed_by = "altai"
        content = "own"
        """)
    for repo in repos:
        text += f'\n[packages.{repo.name}]\ngit = "{repo}"\nrepository = "centos6"\n'
    path.write_text(text)
    return path


def timed(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command."""
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return seconds, int(proc.stderr.strip().splitlines()[-1])


def build_many_rpms(root: Path, count: int) -> Path:
    """`count` small noarch RPMs from one spec with `count` subpackages: one rpmbuild run."""
    root.mkdir(parents=True, exist_ok=True)
    spec = root / "many.spec"
    parts = [
        "Name: many\nVersion: 1\nRelease: 1\nSummary: many\nLicense: MIT\nBuildArch: noarch\n"
        "%description\nmany\n%install\n"
    ]
    for i in range(count):
        parts.append(f"mkdir -p %{{buildroot}}/usr/share/p{i}; echo {i} > %{{buildroot}}/usr/share/p{i}/f\n")
    parts += ["%files\n"]
    for i in range(count):
        parts.append(
            f"%package -n p{i:04d}\nSummary: p{i}\n%description -n p{i:04d}\np{i}\n"
            f"%files -n p{i:04d}\n/usr/share/p{i}\n"
        )
    spec.write_text("".join(parts))
    run(["rpmbuild", "--quiet", "-bb", "--define", f"_topdir {root / 'top'}", str(spec)])
    rpms = root / "rpms"
    rpms.mkdir()
    for rpm_file in (root / "top" / "RPMS").rglob("p*.rpm"):
        shutil.move(str(rpm_file), rpms / rpm_file.name)
    return rpms


def rpmbuild_pool(srpms: list[Path], workers: int, root: Path) -> float:
    """Wall seconds of bare `rpmbuild --rebuild` of `srpms` by `workers` threads, each build in its own
    topdir, with the layout's EL macros as our local builder has them."""
    macros = ROOT / "repo-layout" / "macros" / "el6.macros"

    def one(srpm: Path) -> None:
        top = root / f"j{workers}" / srpm.name
        top.mkdir(parents=True)  # rpm's own mkdir -p races with the other worker's
        run(
            [
                "rpmbuild",
                "--quiet",
                f"--load={macros}",
                "--define",
                f"_topdir {top}",
                "--define",
                "dist .el6",
                "--nodeps",
                "--rebuild",
                str(srpm),
            ]
        )

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, srpms))
    return time.perf_counter() - start


def disk_blocks(directory: Path) -> int:
    """Bytes of the files in `directory` that are not hard links to another release's files."""
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and p.stat().st_nlink == 1)


def main() -> None:
    py = sys.executable
    tito = shutil.which("tito", path=str(Path(py).parent)) or "tito"
    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp_name:
        tmp = Path(tmp_name)
        state = tmp / "state"
        gnupg = tmp / "gnupg"
        gnupg.mkdir(mode=0o700)
        env = {"GNUPGHOME": str(gnupg)}
        repos = make_package_repos(tmp / "repos", 100)
        layout = write_layout(tmp / "layout" / "altai.toml", repos)
        base = [py, str(TOOLS / "build.py"), "--all", "--layout", str(layout), "--state-dir", str(state)]
        meter = CpuMeter.open()
        cpu: dict[str, float] = {}

        def metered(what: str, measure: Callable[[], T]) -> T:
            before = meter.seconds() if meter else 0.0
            result = measure()
            if meter:
                cpu[what] = meter.seconds() - before
            return result

        try:
            j1, _ = metered("j1", lambda: timed([*base, "--out", str(tmp / "out-j1"), "--jobs", "1"], env=env))
            j2, rss_cold = metered("j2", lambda: timed([*base, "--out", str(tmp / "out-j2"), "--jobs", "2"], env=env))
            j3, _ = timed([*base, "--out", str(tmp / "out-j3"), "--jobs", "3"], env=env)
            verify = [py, str(TOOLS / "build.py"), "--verify", "--layout", str(layout), "--out", str(tmp / "out-j2")]
            verified, _ = timed([*verify, "--jobs", "2"], env=env)
            srpms = sorted((tmp / "out-j1" / "centos6").glob("*.src.rpm"))
            bare1 = metered("bare1", lambda: rpmbuild_pool(srpms, 1, tmp / "bare"))
            bare2 = metered("bare2", lambda: rpmbuild_pool(srpms, 2, tmp / "bare"))
        finally:
            if meter:
                meter.close()
        noops = [timed([*base, "--out", str(tmp / "out-j2")], env=env) for _ in range(5)]
        noop, rss_noop = statistics.median(t for t, _ in noops), max(r for _, r in noops)  # one run is noise
        for repo in repos:
            run([tito, "init"], cwd=repo)
        start = time.perf_counter()
        for repo in repos:
            run([tito, "build", "--srpm", "--test", "-o", str(tmp / "tito-out")], cwd=repo)
        tito_all = time.perf_counter() - start

        rpms = build_many_rpms(tmp / "many", 2001)
        extra = sorted(rpms.glob("*.rpm"))[-1]
        held = tmp / "held"
        held.mkdir()
        shutil.move(str(extra), held / extra.name)  # the one package added later
        layout2000 = write_layout(tmp / "layout2000" / "altai.toml", [])
        out2000 = tmp / "out2000"
        script = ASSEMBLE.format(tools=str(TOOLS), layout=str(layout2000), out=str(out2000), rpms=str(rpms))
        full, rss_2000 = timed([py, "-c", script])
        shutil.copy2(held / extra.name, rpms / extra.name)
        one_script = ASSEMBLE.format(tools=str(TOOLS), layout=str(layout2000), out=str(out2000), rpms=str(held))
        incremental, _ = timed([py, "-c", one_script])
        new_bytes = disk_blocks(out2000.resolve())
        peer_dir = tmp / "peer"
        shutil.copytree(rpms, peer_dir)
        (peer_dir / extra.name).unlink()
        cr_full, _ = timed(["createrepo_c", "--quiet", "--general-compress-type=gz", str(peer_dir)])
        shutil.copy2(held / extra.name, peer_dir / extra.name)
        cr_update, _ = timed(["createrepo_c", "--quiet", "--update", "--general-compress-type=gz", str(peer_dir)])
        small_script = ASSEMBLE.format(
            tools=str(TOOLS), layout=str(layout2000), out=str(tmp / "out100"), rpms=str(tmp / "rpms100")
        )
        (tmp / "rpms100").mkdir()
        for rpm_file in sorted(rpms.glob("*.rpm"))[:100]:
            os.link(rpm_file, tmp / "rpms100" / rpm_file.name)
        _, rss_100 = timed([py, "-c", small_script])

    print("\nrelease builds at scale (2 cores)")
    rows = [
        ("100 packages, cold build.py --all --jobs 1", j1, ""),
        ("100 packages, cold build.py --all --jobs 2", j2, f"speed-up {j1 / j2:.2f}x over --jobs 1"),
        ("100 packages, cold build.py --all --jobs 3", j3, f"speed-up {j1 / j3:.2f}x over --jobs 1"),
        ("100 packages, --verify (every SRPM rebuilt), --jobs 2", verified, f"{verified / j2:.2f}x the cold build"),
        ("ceiling: bare rpmbuild --rebuild x100, 1 worker", bare1, f"{bare1 / j1:.2f}x of our --jobs 1"),
        ("ceiling: bare rpmbuild --rebuild x100, 2 workers", bare2, f"speed-up {bare1 / bare2:.2f}x over 1 worker"),
        ("100 packages, no-op build.py --all (median of 5)", noop, f"{noop / tito_all:.3f}x tito's total"),
        ("tito build --srpm --test, 100 packages one by one", tito_all, "SRPMs only, unsigned"),
        ("2,000 packages: first release (metadata for all)", full, ""),
        (
            "2,000 packages: add one (incremental + hard links)",
            incremental,
            f"{incremental / cr_full:.2f}x createrepo_c full, {incremental / cr_update:.2f}x --update",
        ),
        ("createrepo_c over 2,001 packages (full)", cr_full, ""),
        ("createrepo_c --update after adding one", cr_update, ""),
    ]
    print(f"{'what':<52} {'wall':>9}  note")
    for what, seconds, note in rows:
        print(f"{what:<52} {seconds:>8.2f}s  {note}")
    print(f"new bytes in the 2,001-package release (not hard links): {new_bytes / 1024:.0f} KiB")
    if cpu:  # what the cores did: at --jobs 2 both are busy, and the wall time follows the CPU time
        print(
            f"CPU, every process of the run (cgroup): cold --jobs 1 {cpu['j1']:.1f} s, --jobs 2 {cpu['j2']:.1f} s;"
            f" bare pool of 1 {cpu['bare1']:.1f} s, of 2 {cpu['bare2']:.1f} s;"
            f" ratio {cpu['j1'] / cpu['bare1']:.2f}x / {cpu['j2'] / cpu['bare2']:.2f}x"
        )
    else:
        print("CPU: not measured (no cgroup could be made: run as root for it)")
    print(
        f"peak RSS: no-op --all over 100: {rss_noop / 1024:.0f} MiB; cold --all over 100: {rss_cold / 1024:.0f} MiB;"
        f" assemble 100: {rss_100 / 1024:.0f} MiB; assemble 2,000: {rss_2000 / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
