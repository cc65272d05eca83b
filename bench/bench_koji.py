"""The koji builder on a farm: 20 packages whose %build takes 2 s, through FakeKojiHub (tests/doubles/fakekoji/)
with 20 build slots, against the same 20 with the local builder at --jobs 2 (one build per core here).
Besides the two wall times, where a koji package's time goes: the upload, the build on the hub, the
wait until we saw it finish and downloaded its results (polling + download), and the rest (our signing,
verification and checks), as medians over the 20 packages, from the hub's own timeline."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_release import SPEC as BENCH_SPEC
from bench_release import make_package_repos, write_layout
from common import GIT_ENV, ROOT, TOOLS

sys.path.insert(0, str(ROOT / "tests" / "doubles"))
sys.path.insert(0, str(TOOLS))

PACKAGES = 20
BUILD_SECONDS = 2
POLL_INTERVAL = 1.0

# bench_release's package with a %build that takes BUILD_SECONDS
SPEC = BENCH_SPEC.replace("%install\n", f"%build\nsleep {BUILD_SECONDS}\n%install\n")


def build(layout: Path, out: Path, state: Path, *args: str) -> tuple[float, str]:
    argv = [
        sys.executable,
        str(TOOLS / "build.py"),
        "--all",
        "--layout",
        str(layout),
        "--out",
        str(out),
        "--state-dir",
        str(state),
        *args,
    ]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return seconds, proc.stderr


def main() -> None:
    from fakekoji import FakeKojiHub, make_certificates

    with tempfile.TemporaryDirectory(prefix="altai-bench-koji-") as tmp:
        root = Path(tmp)
        repos = make_package_repos(root / "repos", PACKAGES, SPEC, prefix="farm")
        state = root / "state"
        local_layout = write_layout(root / "local" / "altai.toml", repos)
        local_seconds, _ = build(local_layout, root / "local-out", state, "--builder", "rpmbuild", "--jobs", "2")

        hub = FakeKojiHub(root / "hub", make_certificates(root / "certs"), target="bench-el6", slots=PACKAGES)
        try:
            koji_layout = write_layout(root / "koji" / "altai.toml", repos)
            hub.profile(koji_layout.parent / "koji.conf")
            with open(koji_layout, "a") as f:
                f.write(
                    f'\n[koji]\nprofile = "altai"\ntarget = "bench-el6"\nscratch = true\n'
                    f'config = "koji.conf"\npoll_interval = {POLL_INTERVAL}\n'
                )
            koji_seconds, stderr = build(
                koji_layout, root / "koji-out", state, "--builder", "koji", "--jobs", str(PACKAGES)
            )
            timeline = list(hub.timeline)
            tasks = {t.label: t for t in hub.tasks.values() if t.method == "build"}
        finally:
            hub.stop()

    totals = {
        m.group(1): float(m.group(2)) for m in re.finditer(r"^(\S+): built and signed in ([\d.]+)s$", stderr, re.M)
    }
    upload, on_hub, fetched, rest = [], [], [], []
    for name, total in totals.items():
        task = next(t for label, t in tasks.items() if label and label.startswith(f"{name}-"))
        children = {t.id for t in hub.tasks.values() if t.parent == task.id}
        first_upload = min(
            ts for ts, method, _, kw in timeline if method == "rawUpload" and kw["filename"].startswith(f"{name}-")
        )
        last_download = max(
            ts for ts, method, args, _ in timeline if method == "downloadTaskOutput" and args[0] in children
        )
        assert task.completion_ts is not None
        upload.append(task.create_ts - first_upload)
        on_hub.append(task.completion_ts - task.create_ts)
        fetched.append(last_download - task.completion_ts)
        rest.append(total - upload[-1] - on_hub[-1] - fetched[-1])

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:8.0f} ms"

    print(
        f"\nKoji builder: {PACKAGES} packages, %build = sleep {BUILD_SECONDS}, FakeKojiHub with {PACKAGES} slots,"
        f" poll_interval {POLL_INTERVAL:g} s"
    )
    print(f"{'local builder, --jobs 2 (peer)':<48} {local_seconds:8.1f} s")
    ratio = koji_seconds / local_seconds
    print(f"{'koji builder, --jobs ' + str(PACKAGES):<48} {koji_seconds:8.1f} s   ratio {ratio:.2f}x")
    print("per package (median):")
    print(f"  {'upload (checkUpload + rawUpload)':<46} {ms(upload)}")
    print(f"  {'build on the hub (task created -> closed)':<46} {ms(on_hub)}")
    print(f"  {'seen closed + logs and RPMs downloaded':<46} {ms(fetched)}")
    print(f"  {'the rest: sign, verify, check, SRPM copy':<46} {ms(rest)}")
