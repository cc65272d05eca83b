"""`tools/build.py --builder koji` against a real Koji: koji 1.35.3's own hub (httpd, mod_wsgi, PostgreSQL),
kojira, and kojid building in real mock chroots of the host-derived base, confined as the project's own mock
builder is (scripts/koji/private-koji.sh starts them; `make test-koji` runs these tests). Each test has a
target of its own on the hub (`private-koji.sh add-target`), and Releases of its own: Koji builds an NVR once,
whatever the tag."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import koji
import pytest
from altai_testlib import ROOT, Run, assert_one_line_error, build, build_argv, chained, logs, run_tool, tree
from kojitestlib import koji_table

SCRIPT = ROOT / "scripts" / "koji" / "private-koji.sh"
pytestmark = pytest.mark.xdist_group("private-koji")


@pytest.fixture(scope="session")
def hub() -> dict[str, str]:
    """The private Koji `make test-koji` started (started here when it is not up: `up` is idempotent)."""
    done = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    facts = subprocess.run([str(SCRIPT), "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in facts.split())


def admin(hub: dict[str, str]) -> koji.ClientSession:
    config = koji.read_config("admin", user_config=hub["KOJI_CONFIG"])
    session = koji.ClientSession(config["server"], {"serverca": config["serverca"]})
    session.ssl_login(config["cert"], None, config["serverca"])
    return session


@pytest.fixture
def target(hub) -> str:
    prefix = "t" + secrets.token_hex(4)
    done = subprocess.run([str(SCRIPT), "add-target", prefix], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return prefix


def own_releases(release, token: str) -> None:
    """The library's and the application's specs as they are now, at Releases of the test's own."""
    for repo, spec in ((release["lib"], "libaltai.spec"), (release["app"], "altai-app.spec")):
        text = (repo.path / spec).read_text()
        repo.commit({spec: re.sub(r"(?m)^Release:\s*(\d+)%", rf"Release: \1.{token}%", text, count=1)})


def on_koji(release, hub: dict[str, str], prefix: str, scratch: bool = False) -> str:
    """The test layout built on the hub, into the test's own target (its Releases: `own_releases`)."""
    token = prefix[1:]
    koji_table(release["layout"], f"{prefix}-candidate", scratch, hub["KOJI_CONFIG"], 1)
    session = admin(hub)
    for name in ("libaltai", "altai-app", "nova-fping", "altai-release"):
        session.packageListAdd(f"{prefix}-el6", name, owner="altai-release")
    return token


def contents(rpm: Path) -> str:
    """Each file of a package with its digest: what a build made, whatever the clock said."""
    query = "[%{FILENAMES} %{FILEDIGESTS} %{FILEMODES}\n]"
    return subprocess.run(["rpm", "-qp", "--qf", query, str(rpm)], capture_output=True, text=True, check=True).stdout


def test_a_library_and_the_application_built_against_it_in_kojids_mock_roots(
    release, state_dir, gnupghome, hub, target, tmp_path
):
    """Real builds: libaltai, tagged, waited for in the build tag's repository, then altai-app, whose %build
    reads a file only libaltai-devel installs; each build's root as the hub lists it kept in the manifest;
    the files the same as the project's mock builder makes on the same base; a second run takes the hub's
    builds; --verify --builder koji reproduces the release by scratch builds."""
    token = on_koji(release, hub, target)
    chained(release, "cat /usr/include/libaltai.h > app.txt")
    own_releases(release, token)
    run = build(release, state_dir, gnupghome, "libaltai", "altai-app", "--builder", "koji")
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"libaltai: waiting for libaltai-1.2-1.{token}.el6 in the {target}-el6-build repo" in run.stderr
    manifest = json.loads((release["out"] / "manifest.json").read_text())
    app = next(p for p in manifest["packages"] if p["name"] == "altai-app" and p["arch"] != "src")
    assert app["build"]["builder"] == "koji"
    root = {p["nevra"]: p for p in app["build_root"]}
    assert any(n.startswith("altai-buildsys-") for n in root)  # the base, from kojid's mock root
    devel = next(p for n, p in root.items() if n.startswith(f"libaltai-devel-1.2-1.{token}.el6"))
    assert devel["repository"] == f"{target}-el6-build (koji)"
    assert len(devel["digest"]) == 32  # rpm's SIGMD5, as Koji's payloadhash
    (built,) = (release["out"] / "centos6").glob("altai-app-*.noarch.rpm")
    cpio = subprocess.run(["rpm2cpio", str(built)], capture_output=True, check=True).stdout
    said = subprocess.run(
        ["cpio", "-i", "--quiet", "--to-stdout", "./usr/share/altai-app/app.txt"], input=cpio, capture_output=True
    ).stdout
    assert said == b"library\n"  # libaltai-devel's header, installed by kojid's mock from the tag's repo

    # the same SRPMs in the project's own mock builder, on the same base: the same files
    mocked = {**release, "out": tmp_path / "mocked"}
    assert build(mocked, state_dir, gnupghome, "libaltai", "altai-app", "--builder", "mock").returncode == 0
    for name in ("altai-app-*.noarch.rpm",):
        (one,) = (release["out"] / "centos6").glob(name)
        (other,) = (mocked["out"] / "centos6").glob(name)
        assert contents(one) == contents(other)

    # a fresh --out: every build taken from the hub, nothing submitted again
    again = {**release, "out": tmp_path / "again"}
    second = build(again, state_dir, gnupghome, "libaltai", "altai-app", "--builder", "koji")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "taken from the hub: built before from this SRPM" in second.stdout + second.stderr
    assert "uploading" not in second.stderr.replace("altai-release", "")

    # the release's promise, kept on Koji: scratch builds of its SRPMs reproduce its binaries
    verify = build(release, state_dir, gnupghome, "--verify", "--builder", "koji", "--json")
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]
    reproduced = [f["path"] for f in json.loads(verify.stdout)["files"] if f["verdict"] == "reproduced"]
    assert any("altai-app" in p for p in reproduced)


def test_a_failing_build_is_one_line_with_the_task_and_the_logs_tail(release, state_dir, gnupghome, hub, target):
    own_releases(release, on_koji(release, hub, target))
    release["lib"].commit(
        {
            "libaltai.spec": (release["lib"].path / "libaltai.spec")
            .read_text()
            .replace("cat lib.txt > built.txt", "echo 'error: compiler exploded'; exit 1")
        }
    )
    before = tree(release["out"]) if release["out"].exists() else {}
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert_one_line_error(run, "libaltai: koji task", "buildArch", "build.log")
    assert "Bad exit status" in run.stderr.splitlines()[-1] or "exploded" in run.stderr.splitlines()[-1]
    assert "compiler exploded" in (logs(release["out"]) / "libaltai" / "build.log").read_text()
    assert (tree(release["out"]) if release["out"].exists() else {}) == before


def test_fakekojihub_serves_only_calls_the_real_hub_has_with_their_signatures(hub):
    """The double is checked against the real hub in the same run: every call FakeKojiHub serves is one the
    hub lists (`_listapi()`), with its argument description, and the recorded listing is the hub's."""
    from fakekoji.calls import HubCalls

    listed = {f["name"]: f["argdesc"] for f in admin(hub)._listapi()}
    recorded = json.loads((ROOT / "tests/doubles/fakekoji/koji-1.35.3-api.json").read_text())["api"]
    fake = HubCalls.api.fget(HubCalls.__new__(HubCalls))  # type: ignore[attr-defined]
    for name in fake:
        assert name in listed, name
    assert {f["name"]: f["argdesc"] for f in recorded if f["name"] in fake} == {n: listed[n] for n in fake}


def shipped_on_koji(tmp_path: Path, hub: dict[str, str], prefix: str) -> Path:
    """The shipped layout (repo-layout/) with a [koji] table for the test's target, in a copy whose git
    paths name this checkout."""
    copy = tmp_path / "repo-layout"
    shutil.copytree(ROOT / "repo-layout", copy, symlinks=True)
    layout = copy / "altai.toml"
    layout.write_text(layout.read_text().replace('git = ".."', f'git = "{ROOT}"'))
    koji_table(layout, f"{prefix}-candidate", False, hub["KOJI_CONFIG"], 1)
    session = admin(hub)
    for name in ("nova-fping", "instance-notifier", "altai-release"):
        session.packageListAdd(f"{prefix}-el6", name, owner="altai-release")
    return layout


def test_the_shipped_layout_builds_signs_and_publishes_on_koji_as_mock_builds_it(
    tmp_path, state_dir, gnupghome, hub, target
):
    """`--all --builder koji` of the shipped layout: nova-fping, then instance-notifier (which BuildRequires
    it, from the build tag's repository), the release package; signed and published; each package's files
    the same as the project's mock builder makes on the same base."""
    layout = shipped_on_koji(tmp_path, hub, target)
    argv = ["--layout", str(layout), "--state-dir", str(state_dir), "--all"]
    env = {"GNUPGHOME": str(gnupghome)}
    run = run_tool("build.py", *argv, "--out", str(tmp_path / "koji"), "--builder", "koji", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "nova-fping: waiting for nova-fping-" in run.stderr
    mocked = run_tool("build.py", *argv, "--out", str(tmp_path / "mock"), "--builder", "mock", env=env)
    assert mocked.returncode == 0, mocked.stderr[-3000:]
    for name in ("nova-fping", "instance-notifier"):
        (one,) = (tmp_path / "koji" / "centos6").glob(f"{name}-[0-9]*.noarch.rpm")
        (other,) = (tmp_path / "mock" / "centos6").glob(f"{name}-[0-9]*.noarch.rpm")
        assert contents(one) == contents(other), name
    manifest = json.loads((tmp_path / "koji" / "manifest.json").read_text())
    notifier = next(p for p in manifest["packages"] if p["name"] == "instance-notifier" and p["arch"] != "src")
    assert any(p["nevra"].startswith("nova-fping-") for p in notifier["build_root"])


def test_the_hub_going_away_in_the_middle_of_a_run_is_one_error_and_nothing_published(
    release, state_dir, gnupghome, hub, target
):
    own_releases(release, on_koji(release, hub, target))
    assert build(release, state_dir, gnupghome, "nova-fping", "--builder", "koji").returncode == 0
    before = tree(release["out"])
    httpd = Path(hub["ALTAI_KOJI_DIR"]) / "run" / "httpd.pid"
    stopper = subprocess.Popen(["sh", "-c", f"sleep 4; kill -TERM $(cat {httpd})"])
    try:
        run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    finally:
        stopper.wait()
        subprocess.run([str(SCRIPT), "up"], capture_output=True, timeout=900, check=True)  # for the next test
    assert_one_line_error(run, "koji hub")
    assert tree(release["out"]) == before


def test_kojid_killed_during_a_task_fails_the_run_in_one_line_and_the_next_run_builds_it(
    release, state_dir, gnupghome, hub, target
):
    """kojid killed (SIGKILL, the process group it was started in) while its mock runs a %build: the kojid
    that starts next finds the task it no longer runs and fails it; the waiting run ends with one line naming
    the task, nothing published, nothing of the killed jail left mounted; the next run builds the package
    again (Koji builds a failed NVR again)."""
    own_releases(release, on_koji(release, hub, target))
    slow = (release["lib"].path / "libaltai.spec").read_text()
    release["lib"].commit(
        {"libaltai.spec": slow.replace("cat lib.txt > built.txt", "sleep 20; cat lib.txt > built.txt")}
    )
    top = Path(hub["ALTAI_KOJI_DIR"])
    argv = build_argv(release, state_dir, "libaltai", "--builder", "koji")
    env = {**os.environ, "GNUPGHOME": str(gnupghome)}
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as running:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(
            (top / "mock").glob(f"{target}-el6-build-*/root/builddir/build/BUILD/*")
        ):
            time.sleep(0.5)  # until kojid's mock runs the %build
        os.killpg(int((top / "run" / "kojid.pid").read_text()), signal.SIGKILL)
        time.sleep(3)
        assert subprocess.run([str(SCRIPT), "up"], capture_output=True, timeout=900).returncode == 0
        _, err = running.communicate(timeout=600)
    assert_one_line_error(Run(running.returncode, "", err), "libaltai: koji task", "buildArch")
    assert not release["out"].exists()
    mounted = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout.split()
    assert not [m for m in mounted if m.startswith(str(top))]
    again = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert again.returncode == 0, again.stderr[-3000:]
    assert list((release["out"] / "deps" / "misc").glob("libaltai-1.2-*.rpm"))


def test_the_gate_of_a_koji_built_release_installs_it_and_reproduces_it_on_koji(
    release, state_dir, gnupghome, hub, target, tmp_path
):
    """The CI release job on Koji: the lib -> app chain built on the hub, installed by dnf on a base OS, and
    each binary reproduced from its SRPM by a scratch build, before the release is published."""
    from rpmtools import base_os_repo

    token = on_koji(release, hub, target)
    chained(release, "cat /usr/include/libaltai.h > app.txt")
    own_releases(release, token)
    base_repo = base_os_repo(tmp_path)
    argv = ["libaltai", "altai-app", "--builder", "koji", "--gate", "--base-repos", str(base_repo)]
    run = build(release, state_dir, gnupghome, *argv)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ok: dnf install of" in run.stderr
    checks = json.loads((release["out"] / "metadata" / "checks.json").read_text())["checks"]
    assert any(c.startswith("every binary package reproduced from its SRPM with koji") for c in checks), checks
