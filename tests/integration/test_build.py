"""tools/build.py end to end with the local builder: real git repositories, sandboxed rpmbuild, gpg and rpmsign,
signatures read back with rpmkeys in a temporary rpmdb. The local builder installs no BuildRequires: it
refuses a package that BuildRequires another of the release (test_mock.py builds those, with real mock)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from altai_testlib import (
    INSTANCE_NOTIFIER_VR,
    LIB_SPEC,
    NOVA_FPING_VR,
    ROOT,
    app_spec,
    assert_one_line_error,
    build,
    chained,
    gpg_agent_homes,
    logs,
    packages_and_keys,
    run_tool,
    tree,
)
from rpmtools import make_key


def rpmkeys_check(key: Path, packages: list[Path], dbpath: Path) -> list[str]:
    dbpath.mkdir(exist_ok=True)
    subprocess.run(["rpmkeys", "--dbpath", str(dbpath), "--import", str(key)], check=True)
    proc = subprocess.run(
        ["rpmkeys", "--dbpath", str(dbpath), "-K", *map(str, packages)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def test_builds_the_release_signed_and_in_order(release, state_dir, gnupghome, tmp_path):
    run = build(release, state_dir, gnupghome, "--all", "--jobs", "2", "--json", "--verbose")
    assert run.returncode == 0, run.stderr
    out = release["out"]
    results = {r["package"]: r for r in json.loads(run.stdout)["packages"]}
    assert set(results) == {"nova-fping", "libaltai", "altai-app"}
    assert results["libaltai"]["nevra"] == "libaltai-1.2-1.el6.src"
    assert all(r["builder"] == "rpmbuild" and r["signed_by"]["development"] for r in results.values())

    published = packages_and_keys(out)
    arch = os.uname().machine
    assert published == sorted(
        [
            "RPM-GPG-KEY-altai",
            "centos6/altai-app-0.5-2.el6.noarch.rpm",
            "centos6/SRPMS/altai-app-0.5-2.el6.src.rpm",
            f"centos6/nova-fping-{NOVA_FPING_VR}.noarch.rpm",
            f"centos6/SRPMS/nova-fping-{NOVA_FPING_VR}.src.rpm",
            f"deps/misc/libaltai-1.2-1.el6.{arch}.rpm",
            f"deps/misc/libaltai-devel-1.2-1.el6.{arch}.rpm",
            "deps/misc-srpms/libaltai-1.2-1.el6.src.rpm",
        ]
    )
    lines = rpmkeys_check(
        out / "RPM-GPG-KEY-altai", [out / p for p in published if p.endswith(".rpm")], tmp_path / "db"
    )
    assert len(lines) == 7
    assert all(line.endswith("digests signatures OK") for line in lines)
    assert (logs(out) / "libaltai" / "build.log").read_text().count("+ cat lib.txt") == 1
    assert "building with the local rpmbuild in a sandbox: it installs no BuildRequires" in run.stderr


def test_the_local_builder_refuses_a_package_that_build_requires_the_release(release, state_dir, gnupghome):
    """It would build altai-app against whatever the host has, not against libaltai: one line naming both."""
    chained(release)
    run = build(release, state_dir, gnupghome, "libaltai", "altai-app")
    assert_one_line_error(run, "altai-app: BuildRequires libaltai-devel, of this release", "--builder mock")
    assert tree(release["out"]) == {}
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0  # published: still of the release
    run = build(release, state_dir, gnupghome, "altai-app")
    assert_one_line_error(run, "altai-app: BuildRequires libaltai-devel, of this release")


def test_progress_says_a_build_when_it_starts(release, state_dir, gnupghome):
    """With one worker, "[k/N] X: building" and the end of X's build (the timing log's line) alternate: a
    start is said when the build starts, not when it is queued behind another. Every package is then said
    to be built and signed once."""
    run = build(release, state_dir, gnupghome, "--all", "--jobs", "1", "--verbose")
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    events = [ln for ln in lines if ": building with" in ln or ln.endswith(" ms") and ": build (rpmbuild)" in ln]
    assert [": building" in e for e in events] == [True, False] * 3, events
    assert [e.split("]")[0] for e in events[::2]] == ["[1/3", "[2/3", "[3/3"]
    started = [e.split("] ")[1].split(":")[0] for e in events[::2]]
    assert [e.removeprefix("time: ").split(":")[0] for e in events[1::2]] == started
    assert sorted(ln.split(":")[0] for ln in lines if ": built and signed in" in ln) == sorted(started)


def test_human_summary_and_development_key_notice(release, state_dir, gnupghome):
    run = build(release, state_dir, gnupghome, "nova-fping")
    assert run.returncode == 0, run.stderr
    header, row = run.stdout.splitlines()[:2]
    assert header.split() == ["package", "nevra", "builder", "time", "signed", "by"]
    assert row.startswith("nova-fping")
    assert f"nova-fping-{NOVA_FPING_VR}" in row
    assert "DEVELOPMENT" in row
    assert "DEVELOPMENT key" in run.stderr
    assert packages_and_keys(release["out"]) == [
        "RPM-GPG-KEY-altai",
        f"centos6/SRPMS/nova-fping-{NOVA_FPING_VR}.src.rpm",
        f"centos6/nova-fping-{NOVA_FPING_VR}.noarch.rpm",
    ]


def _user_key(gnupghome: Path, uid: str, passphrase: str) -> str:
    return make_key(gnupghome, uid, passphrase).fingerprint


def test_signs_with_the_configured_key_and_its_passphrase(release, state_dir, gnupghome, tmp_path):
    passphrase = "correct horse battery staple"
    fpr = _user_key(gnupghome, "Altai Test Release Key", passphrase)
    secret = tmp_path / "passphrase"
    secret.write_text(passphrase)
    run = build(release, state_dir, gnupghome, "libaltai", "--require-key", "--passphrase-file", str(secret), "--json")
    assert run.returncode == 0, run.stderr
    (result,) = json.loads(run.stdout)["packages"]
    assert result["signed_by"] == {"key": "altai", "fingerprint": fpr, "development": False}
    assert "DEVELOPMENT" not in run.stderr
    out = release["out"]
    published = [out / p for p in packages_and_keys(out) if p.endswith(".rpm")]
    assert len(published) == 3
    rpmkeys_check(out / "RPM-GPG-KEY-altai", published, tmp_path / "db")
    sig = subprocess.run(
        ["rpm", "-qp", "--qf", "%{RSAHEADER:pgpsig}", str(published[0])], capture_output=True, text=True, check=True
    ).stdout
    assert fpr[-16:].lower() in sig
    everything = (
        run.stdout + run.stderr + "".join(p.read_text(errors="replace") for p in logs(out).rglob("*") if p.is_file())
    )
    assert passphrase not in everything


def test_wrong_passphrase_publishes_nothing(release, state_dir, gnupghome, tmp_path):
    _user_key(gnupghome, "Altai Test Release Key", "right")
    secret = tmp_path / "passphrase"
    secret.write_text("wrong")
    run = build(release, state_dir, gnupghome, "libaltai", "--passphrase-file", str(secret))
    assert_one_line_error(run, "libaltai", "sign")
    assert tree(release["out"]) == {}


def test_failing_build_names_package_step_and_log_and_keeps_the_previous_release(release, state_dir, gnupghome):
    assert build(release, state_dir, gnupghome, "nova-fping").returncode == 0
    before = tree(release["out"])
    release["app"].commit({"altai-app.spec": app_spec("echo compiling; exit 3")})
    run = build(release, state_dir, gnupghome, "--all")
    log = logs(release["out"]) / "altai-app" / "build.log"
    assert_one_line_error(run, "altai-app", "build failed in rpmbuild", str(log))
    assert "compiling" in log.read_text()
    assert tree(release["out"]) == before
    assert list((logs(release["out"]).parent / "staging").iterdir()) == []


def test_unwritable_state_dir_is_one_line_naming_it(release, state_dir, gnupghome, tmp_path):
    """An OS error the tool has no message of its own for (here: the development key cannot be made) is
    still one line naming the path, and the release stays as it was."""
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    before = tree(release["out"])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    assert_one_line_error(build(release, blocker / "state", gnupghome, "libaltai", "--rebuild"), str(blocker))
    assert tree(release["out"]) == before


def test_unknown_package_lists_the_known_ones(release, state_dir, gnupghome):
    run = build(release, state_dir, gnupghome, "nova-ping")
    assert_one_line_error(run, "'nova-ping'", "altai-app, libaltai, nova-fping")


def test_missing_key_with_require_key_or_sign_key(release, state_dir, gnupghome):
    assert_one_line_error(
        build(release, state_dir, gnupghome, "libaltai", "--require-key"), "Altai Test Release Key", "--require-key"
    )
    assert_one_line_error(build(release, state_dir, gnupghome, "libaltai", "--sign-key", "0xDEADBEEF"), "0xDEADBEEF")
    assert tree(release["out"]) == {}


def test_build_requires_cycle_is_named(release, state_dir, gnupghome):
    chained(release)
    cyclic = LIB_SPEC.replace("%description\n", "BuildRequires: altai-app\n%description\n", 1)
    release["lib"].commit({"libaltai.spec": cyclic})
    run = build(release, state_dir, gnupghome, "libaltai", "altai-app")
    assert_one_line_error(run, "cycle", "altai-app -> libaltai -> altai-app")
    assert tree(release["out"]) == {}


def test_bad_spec_in_the_release_names_the_package(release, state_dir, gnupghome):
    release["lib"].commit({"libaltai.spec": "Name: libaltai\n%description\nbroken\n"})
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, "libaltai", "libaltai.spec", "does not parse")
    assert tree(release["out"]) == {}


def test_layout_errors_name_file_and_key(release, state_dir, gnupghome):
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('repository = "misc"', 'repository = "centos7"'))
    assert_one_line_error(
        build(release, state_dir, gnupghome, "--all"), str(layout), "packages.libaltai.repository", "'centos7'"
    )
    layout.write_text(layout.read_text().replace('dist = ".el6"', "dist = 6"))
    assert_one_line_error(build(release, state_dir, gnupghome, "--all"), "release.dist", "expected a non-empty string")
    layout.write_text("[release\n")
    assert_one_line_error(build(release, state_dir, gnupghome, "--all"), str(layout), "not valid TOML")


def test_shipped_layout_release_job_builds_both_packages_in_order(tmp_path, state_dir, gnupghome):
    """The CI release job on the embedded layout, with real mock on the host-derived base: nova-fping first
    (instance-notifier BuildRequires it, and its build root installs this run's nova-fping)."""
    out = tmp_path / "out"
    run = run_tool(
        "build.py",
        "--all",
        "--builder",
        "mock",
        "--out",
        str(out),
        "--state-dir",
        str(state_dir),
        "--jobs",
        "2",
        "--verbose",
        env={"GNUPGHOME": str(gnupghome)},
    )
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    fping_done = next(i for i, ln in enumerate(lines) if ln.startswith("time: nova-fping: build ("))
    notifier_start = next(i for i, ln in enumerate(lines) if "instance-notifier: building" in ln)
    assert fping_done < notifier_start
    # every key a section of altai.repo names is in the tree (EPEL's and CentOS's, with no package and no key
    # file in the shipped layout, are left out instead of pointing at a key that would 404)
    repo_text = (out / "altai.repo").read_text()
    named = {line.rsplit("/", 1)[1] for line in repo_text.splitlines() if line.startswith("gpgkey=")}
    assert named, (named, repo_text)
    assert all((out / key).is_file() for key in named), (named, repo_text)
    assert "[altai-epel]" not in repo_text
    assert "[altai-centos6]" in repo_text
    built = [p for p in packages_and_keys(out) if p.endswith(".rpm")]
    assert len(built) == 6
    assert any(  # nova-fping, instance-notifier and altai-release, with their SRPMs
        p.startswith(f"centos6/instance-notifier-{INSTANCE_NOTIFIER_VR}.noarch") for p in built
    )
    rcfile = ROOT / "specs" / "instance-notifier.rpmlintrc"
    lint = subprocess.run(
        ["rpmlint", "-r", str(rcfile), *(str(out / p) for p in built if "instance-notifier" in p)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    assert "0 errors, 0 warnings" in lint.stdout, lint.stdout
    # the release's promise, kept in mock too: every binary rebuilt from its SRPM in a chroot is the same
    verify = run_tool(
        "build.py",
        "--verify",
        "--builder",
        "mock",
        "--out",
        str(out),
        "--state-dir",
        str(state_dir),
        "--json",
        env={"GNUPGHOME": str(gnupghome)},
    )
    assert verify.returncode == 0, verify.stdout[-3000:]
    binaries = [f for f in json.loads(verify.stdout)["files"] if f["path"].endswith("noarch.rpm")]
    assert [f["verdict"] for f in binaries] == ["reproduced"] * 3


def test_a_run_leaves_no_gpg_agent_of_its_own(release, gnupghome, tmp_path):
    state = tmp_path / "fresh-state"
    assert build(release, state, gnupghome, "libaltai").returncode == 0
    assert gpg_agent_homes(state) == []


def test_json_modes_print_a_json_error_object_when_they_fail(release, state_dir, gnupghome):
    """build.py --json, --accept --json and --gate printed nothing on stdout when they failed: a CI job keeps
    stdout as its artifact. One JSON object with the error line and the exit code."""
    import json

    run = build(release, state_dir, gnupghome, "nosuch", "--json")
    assert run.returncode == 2
    assert json.loads(run.stdout) == {
        "ok": False,
        "error": run.stderr.splitlines()[-1].removeprefix("error: "),
        "exit_code": 2,
    }
    run = build(release, state_dir, gnupghome, "--accept", "--json")
    assert run.returncode != 0
    assert json.loads(run.stdout)["exit_code"] == run.returncode
    assert json.loads(run.stdout)["ok"] is False


def test_every_json_mode_says_ok_at_its_top(release, state_dir, gnupghome, tmp_path):
    """One shape to test first in a CI job, whatever the mode: `ok` at the top, true or false (docs/build.md)."""
    import json

    built = build(release, state_dir, gnupghome, "libaltai", "--json")
    assert json.loads(built.stdout)["ok"] is True
    assert [p["package"] for p in json.loads(built.stdout)["packages"]] == ["libaltai"]
    manifest = tmp_path / "first.json"
    manifest.write_bytes((release["out"] / "manifest.json").read_bytes())
    for mode in (["--explain", "libaltai"], ["--diff", str(manifest)], ["--verify"]):
        run = build(release, state_dir, gnupghome, *mode, "--json")
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["ok"] is True, mode
    assert (
        "libaltai"
        in json.loads(build(release, state_dir, gnupghome, "--explain", "libaltai", "--json").stdout)["packages"]
    )


def test_sigterm_stops_a_running_local_build_at_once(release, state_dir, gnupghome, make_repo):
    """SIGTERM to build.py waited for the running rpmbuild (its sandbox runs in a session of its own, which
    no signal of ours reaches): the run now ends its sandboxes and exits 143 within seconds."""
    import signal

    from altai_testlib import add_package, build_argv, hostile

    # a duration only this test sleeps: what is left of it is this test's, never another suite's sleep
    sleeping = f"sleep 120.{os.getpid()}{time.monotonic_ns() % 1000}"
    repo = make_repo({"hostile.spec": hostile(build_step=sleeping), "README": "hi\n"})
    add_package(release, "hostile", repo.path)
    env = {**os.environ, "GNUPGHOME": str(gnupghome)}
    proc = subprocess.Popen(build_argv(release, state_dir, "hostile"), env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "building with" in line:
            break
    time.sleep(1)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert time.monotonic() - start < 15
    assert proc.stderr.read().rstrip().endswith("error: terminated")
    leftover = subprocess.run(["pgrep", "-f", sleeping], capture_output=True, text=True).stdout.split()
    assert leftover == []
