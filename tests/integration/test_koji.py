"""`tools/build.py --builder koji`: the real koji client library against FakeKojiHub (tests/doubles/fakekoji/, a
test double of Koji's hub over HTTPS with client certificates), whose "builders" run the local rpmbuild.
The release it publishes is checked like a local one: files, manifest, signatures."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import koji
import pytest
from altai_testlib import (
    app_spec,
    assert_one_line_error,
    build,
    build_argv,
    chained,
    logs,
    packages_and_keys,
    tree,
)
from fakekoji import FakeKojiHub
from kojitestlib import TARGET, use_koji


def manifest(out: Path) -> list[tuple[str, ...]]:
    """What the release says of each file, apart from the bytes' digests."""
    data = json.loads((out / "manifest.json").read_text())
    keys = ("path", "origin", "name", "version", "release", "arch", "signer", "signer_keyid")
    return sorted(tuple(str(e[k]) for k in keys) for e in data["packages"])


def test_scratch_builds_publish_the_release_a_local_run_publishes(release, state_dir, gnupghome, hub, tmp_path):
    local_out = tmp_path / "local-out"
    local = build(
        {**release, "out": local_out}, state_dir, gnupghome, "nova-fping", "libaltai", "--builder", "rpmbuild"
    )
    assert local.returncode == 0, local.stderr
    use_koji(release, hub, scratch=True)

    run = build(release, state_dir, gnupghome, "nova-fping", "libaltai", "--builder", "koji")

    assert run.returncode == 0, run.stderr
    assert packages_and_keys(release["out"]) == packages_and_keys(local_out)
    assert manifest(release["out"]) == manifest(local_out)
    # our reproducible SRPM went to the hub, and it is the one published
    assert [args[1:] for args, _ in hub.called("build")] == [(TARGET, {"scratch": True, "rebuild_srpm": False})] * 2
    uploaded = {p.name: p.read_bytes() for p in (hub.work / "uploads").rglob("*.src.rpm")}
    local_srpms = {p.name: p.read_bytes() for p in local_out.rglob("*.src.rpm")}
    assert uploaded.keys() == local_srpms.keys()
    assert len(uploaded) == 2
    # the client went through koji's own login, fast upload and task-output download
    methods = {m for m, _, _ in hub.calls}
    assert {"sslLogin", "checkUpload", "rawUpload", "listTaskOutput"} <= methods
    # task outputs over HTTP from topurl, as `koji download-task` fetches them, not base64 through the hub
    assert any(args[0].startswith("/kojifiles/work/tasks/") for args, _ in hub.called("GET"))
    assert "downloadTaskOutput" not in methods
    assert "listRPMs" not in methods  # scratch results come from the task, not from a build
    # progress: task id, state and the web URL
    task_ids = [t.id for t in hub.tasks.values() if t.method == "build"]
    for task_id in task_ids:
        # the first state seen (ASSIGNED until a builder takes it, as on a real hub) comes with the URL
        first = f"{hub.url}/koji/taskinfo?taskID={task_id}"
        assert re.search(rf"koji task {task_id} build: (assigned|open) {re.escape(first)}", run.stderr), run.stderr
        assert f"koji task {task_id} build: closed" in run.stderr
    for name in ("nova-fping", "libaltai"):
        assert {p.name for p in (logs(release["out"]) / name).iterdir()} >= {"build.log", "root.log", "state.log"}


def test_real_builds_wait_for_the_build_tag_repo_before_submitting_a_dependent(release, state_dir, gnupghome, hub):
    hub.repo_delay = 1.5
    use_koji(release, hub, scratch=False)
    chained(release)

    run = build(release, state_dir, gnupghome, "libaltai", "altai-app", "--builder", "koji", "--jobs", "4")

    assert run.returncode == 0, run.stderr
    builds = {t.label: t for t in hub.tasks.values() if t.method == "build"}
    lib_task, app_task = builds["libaltai-1.2-1.el6.src.rpm"], builds["altai-app-0.5-2.el6.src.rpm"]
    repo_with_lib = next(r for r in hub.repos if r["create_event"] >= hub.tagged[0][0])
    assert app_task.create_ts >= repo_with_lib["create_ts"], "altai-app was submitted before the repo had libaltai"
    assert "waiting for libaltai-1.2-1.el6 in the altai-9.9-el6-build repo (altai-app needs it)" in run.stderr
    assert hub.called("repo.request")
    assert all(args == (2,) for args, _ in hub.called("repo.request"))
    # real builds: the RPMs came from topurl by the build's RPM list
    assert any(args[0].startswith("/kojifiles/packages/libaltai/1.2/1.el6/") for args, _ in hub.called("GET"))
    assert all(args[2] == {} for args, _ in hub.called("build"))  # real builds
    assert lib_task.state == app_task.state == koji.TASK_STATES["CLOSED"]
    assert {row[1] for row in manifest(release["out"])} == {"libaltai", "altai-app"}
    # each binary's provenance names who built it: the hub, and the build task
    published = json.loads((release["out"] / "manifest.json").read_text())
    origins = {e["path"]: e["origin"] for e in published["packages"]}
    tasks = {"libaltai": lib_task.id, "altai-app": app_task.id}
    for path, statement in published["attestations"]["provenance"].items():
        envelope = json.loads((release["out"] / statement).read_text())
        details = json.loads(base64.b64decode(envelope["payload"]))["predicate"]["runDetails"]
        assert details["builder"]["id"] == f"{hub.url}/kojihub"
        assert details["metadata"]["invocationId"] == str(tasks[origins[path]])


def test_without_the_repo_wait_the_dependent_build_fails_in_its_root(release, state_dir, gnupghome, hub):
    """The control of the test above: the same dependent build submitted while the build tag's repo lacks
    libaltai fails in the fake's build root, as mock's would."""
    hub.repo_delay = 3600
    use_koji(release, hub, scratch=False)
    chained(release)
    assert build(release, state_dir, gnupghome, "libaltai", "--builder", "koji").returncode == 0

    run = build(release, state_dir, gnupghome, "altai-app", "--builder", "koji")

    assert_one_line_error(
        run,
        "altai-app: koji task",
        "(buildArch noarch) failed",
        "see root.log",
        "No matching package to install: 'libaltai-devel'",
    )


def test_scratch_builds_cannot_depend_on_each_other(release, state_dir, gnupghome, hub):
    use_koji(release, hub, scratch=True)
    chained(release)
    run = build(release, state_dir, gnupghome, "libaltai", "altai-app", "--builder", "koji")
    assert_one_line_error(run, "scratch = true", "altai-app needs libaltai", "tagged nowhere")
    assert hub.called("build") == []
    assert tree(release["out"]) == {}


def test_failed_task_names_package_task_and_log_tail(release, state_dir, gnupghome, hub):
    release["app"].commit({"altai-app.spec": app_spec("echo 'error: compiler exploded'; exit 1")})
    use_koji(release, hub, scratch=True)

    run = build(release, state_dir, gnupghome, "altai-app", "--builder", "koji")

    (task,) = [t for t in hub.tasks.values() if t.method == "buildArch"]
    assert_one_line_error(run, f"altai-app: koji task {task.id} (buildArch noarch) failed", "compiler exploded")
    assert run.returncode == 3
    assert "compiler exploded" in (logs(release["out"]) / "altai-app" / "build.log").read_text()
    assert tree(release["out"]) == {}


def test_result_of_another_package_is_refused(release, state_dir, gnupghome, hub, tmp_path):
    intruder = make_rpm(tmp_path, "intruder")
    hub.foreign["libaltai"] = intruder
    use_koji(release, hub, scratch=True)

    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")

    assert_one_line_error(
        run, "libaltai: koji task", "returned intruder-1.0-1.noarch.rpm", "not a package of libaltai-1.2-1.el6.src.rpm"
    )
    assert tree(release["out"]) == {}


def test_client_certificate_the_hub_does_not_trust_is_refused(release, state_dir, gnupghome, hub, certs):
    use_koji(release, hub, scratch=True, cert=certs["stranger"])
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert_one_line_error(run, f"koji hub {hub.url}/kojihub: authentication refused (profile 'altai')")
    assert run.returncode == 3
    assert hub.called("build") == []
    assert tree(release["out"]) == {}


def test_unknown_target_and_missing_table(release, state_dir, gnupghome, hub):
    no_table = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert_one_line_error(no_table, "altai.toml: --builder koji needs a [koji] table")
    use_koji(release, hub, scratch=True, target="altai-0.0-nowhere")
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert_one_line_error(run, "no build target 'altai-0.0-nowhere'")
    assert run.returncode == 2
    assert hub.called("build") == []


def start_build(release, state_dir, gnupghome, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        build_argv(release, state_dir, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GNUPGHOME": str(gnupghome)},
    )


def wait_for_open_arch_task(hub: FakeKojiHub, proc: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        with hub.lock:
            running = [
                t.id for t in hub.tasks.values() if t.method == "buildArch" and t.state == koji.TASK_STATES["OPEN"]
            ]
        if running:
            return running[0]
        time.sleep(0.05)
    raise AssertionError(f"no build started: {proc.communicate()}")


def test_hub_going_down_mid_run_fails_the_run_and_publishes_nothing(release, state_dir, gnupghome, hub):
    hub.build_seconds = 60
    use_koji(release, hub, scratch=True)
    proc = start_build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    wait_for_open_arch_task(hub, proc)
    hub.stop()
    _, stderr = proc.communicate(timeout=120)
    assert_one_line_error(_run(proc, stderr), f"koji hub {hub.url}/kojihub: unreachable", "connection refused")
    assert tree(release["out"]) == {}


def test_sigterm_cancels_the_runs_tasks_on_the_hub(release, state_dir, gnupghome, hub):
    hub.build_seconds = 60
    use_koji(release, hub, scratch=True)
    proc = start_build(release, state_dir, gnupghome, "libaltai", "nova-fping", "--builder", "koji", "--jobs", "2")
    wait_for_open_arch_task(hub, proc)
    time.sleep(0.5)  # both submitted
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    parents = sorted(t.id for t in hub.tasks.values() if t.method == "build")
    assert sorted(args[0] for args, _ in hub.called("cancelTask")) == parents
    assert all(t.state == koji.TASK_STATES["CANCELED"] for t in hub.tasks.values())
    assert tree(release["out"]) == {}


def _run(proc: subprocess.Popen[str], stderr: str):  # the Run of a finished background build
    from altai_testlib import Run

    return Run(proc.returncode, "", stderr)


def make_rpm(work: Path, name: str) -> Path:
    top = work / f"rpm-{name}"
    spec = top / f"{name}.spec"
    spec.parent.mkdir(parents=True)
    spec.write_text(
        f"Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: x\nLicense: MIT\nBuildArch: noarch\n"
        f"%description\nx\n%files\n"
    )
    subprocess.run(
        ["rpmbuild", "--quiet", "-bb", "--define", f"_topdir {top}", str(spec)], check=True, capture_output=True
    )
    (rpm,) = (top / "RPMS").rglob("*.rpm")
    return rpm


def test_fake_hub_refuses_what_kojis_hub_would_refuse(hub, tmp_path):
    """The double's own check: a call with an argument Koji 1.36's hub function does not take, a call
    that needs a login without one, or a call out of sequence is a fault, as on the real hub."""
    config = koji.read_config("altai", user_config=str(hub.profile(tmp_path / "koji.conf")))
    session = koji.ClientSession(config["server"], koji.grab_session_options(config))
    with pytest.raises(koji.ActionNotAllowed):
        session.build("x/y.src.rpm", TARGET, {})
    session.ssl_login(config["cert"], None, config["serverca"])
    with pytest.raises(koji.ParameterError):
        session.build("x/y.src.rpm", TARGET, {}, scratch=True)
    with pytest.raises(koji.ParameterError):
        session.listTaskOutput(1, stats=True)
    session.callnum -= 1  # a replayed call number
    with pytest.raises(koji.SequenceError):
        session.getBuildTarget(TARGET)


def test_hub_down_before_the_run_is_unreachable_not_a_refused_login(release, state_dir, gnupghome, hub):
    use_koji(release, hub, scratch=True)
    hub.stop()
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert_one_line_error(run, f"koji hub {hub.url}/kojihub: unreachable while asking to log in", "connection refused")
    assert run.returncode == 3
    assert tree(release["out"]) == {}


def test_a_failed_task_cancels_the_runs_other_tasks(release, state_dir, gnupghome, hub):
    release["app"].commit({"altai-app.spec": app_spec("exit 1")})
    hub.slow["nova-fping"] = 120
    use_koji(release, hub, scratch=True)

    run = build(release, state_dir, gnupghome, "altai-app", "nova-fping", "--builder", "koji", "--jobs", "2")

    assert_one_line_error(run, "altai-app: koji task", "(buildArch noarch) failed")
    slow = next(t for t in hub.tasks.values() if t.method == "build" and str(t.label).startswith("nova-fping-"))
    assert [args[0] for args, _ in hub.called("cancelTask")] == [slow.id]
    assert hub.tasks[slow.id].state == koji.TASK_STATES["CANCELED"]
    assert tree(release["out"]) == {}


def test_a_hub_that_names_an_output_outside_the_result_directory_is_refused(
    release, state_dir, gnupghome, hub, tmp_path
):
    hub.output_names["libaltai"] = "../../escaped.rpm"
    use_koji(release, hub, scratch=True)

    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")

    assert_one_line_error(run, "koji task", "output name '../../escaped.rpm' is not a plain file name")
    assert not list(tmp_path.rglob("escaped.rpm"))
    assert tree(release["out"]) == {}


def test_a_hub_that_sends_more_than_it_lists_is_refused(release, state_dir, gnupghome, hub):
    hub.understated.add("libaltai")
    use_koji(release, hub, scratch=True)

    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")

    assert_one_line_error(run, "koji task", "bytes, the hub lists")
    assert tree(release["out"]) == {}


def test_readme_profile_example_works_when_copied(tmp_path):
    """The README's profile, read by the koji library itself: an inline '; comment' after a value stayed part
    of the value (koji's reader keeps it), so the copied example named a certificate that does not exist."""
    import re

    import koji
    from altai_testlib import ROOT

    readme = (ROOT / "docs" / "koji.md").read_text()
    block = re.search(r"a profile \(`~/.koji/config.d/altai.conf`\):\n\n```ini\n(.*?)```", readme, re.S)
    assert block is not None
    profile = tmp_path / "altai.conf"
    profile.write_text(block.group(1))
    config = koji.read_config_files([str(profile)])
    assert config.get("altai", "cert") == "~/.koji/altai-release.pem"
    assert config.get("altai", "server") == "https://koji.example/kojihub"


def test_verify_of_a_koji_built_release_rebuilds_on_koji_and_names_what_differs(
    release, state_dir, gnupghome, hub, tmp_path
):
    """--verify --builder koji took the hub's existing builds: no task ran, yet it said 'reproduced'. And
    with the local builder, a Koji-built release failed on buildtime, buildhost. Now a verification on Koji
    is a scratch build of each published SRPM; the preflight names the macros a reproducible build needs
    with the exact command; and once the build tag sets them, the local builder reproduces Koji's builds."""
    from altai_release.specfile.rpmbuild import REPRODUCIBLE_MACROS

    use_koji(release, hub, scratch=False)
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert run.returncode == 0, run.stderr
    settings = " ".join(f"-x rpm.macro.{n}={v}" for n, v in REPRODUCIBLE_MACROS.items())
    command = f"koji edit-tag {TARGET}-build {settings}"
    assert f"set them with: {command}" in run.stderr
    local = build(release, state_dir, gnupghome, "--verify")  # the tag made other bytes: named
    assert local.returncode == 4, local.stdout
    assert "differs: " in local.stdout, local.stdout
    assert "buildhost" in local.stdout, local.stdout

    hub.build_tag_extra.update({f"rpm.macro.{n}": v for n, v in REPRODUCIBLE_MACROS.items()})
    again = {**release, "out": tmp_path / "out-reproducible"}
    # a Koji build's time is its newest %changelog entry's (kojid sets no SOURCE_DATE_EPOCH): a spec without
    # one is built at "now" there, and no rebuild can reproduce it
    changelog = "%changelog\n* Mon Nov 30 2026 Altai <release@altai.example> - 1.2-2\n- Rebuilt.\n"
    bumped = (release["lib"].path / "libaltai.spec").read_text().replace("Release: 1%", "Release: 2%") + changelog
    release["lib"].commit({"libaltai.spec": bumped})  # a new NVR: Koji builds an NVR once
    run = build(again, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert run.returncode == 0, run.stderr
    assert "set them with" not in run.stderr, run.stderr
    local = build(again, state_dir, gnupghome, "--verify", "--json")
    assert local.returncode == 0, local.stdout
    builds_before = len(hub.called("build"))
    on_koji = build(again, state_dir, gnupghome, "--verify", "--builder", "koji", "--json")
    assert on_koji.returncode == 0, on_koji.stdout + on_koji.stderr
    scratch = [args for args, _ in hub.called("build")[builds_before:]]
    assert len(scratch) == 1
    assert scratch[0][2] == {"scratch": True, "rebuild_srpm": False}
    verdicts = {f["path"]: f["verdict"] for f in json.loads(on_koji.stdout)["files"]}
    assert verdicts["deps/misc/libaltai-1.2-2.el6.x86_64.rpm"] == "reproduced"
    assert verdicts["deps/misc-srpms/libaltai-1.2-2.el6.src.rpm"].startswith("rebuilt with koji")
