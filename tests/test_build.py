"""tools/build.py end to end: real git repositories, sandboxed rpmbuild, gpg and rpmsign, signatures read
back with rpmkeys in a temporary rpmdb. Fedora's mock cannot run here: its tests use FakeMock, a stand-in
executable named as such, and check the exact argv and config that the real mock would get."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from altai_testlib import (
    APP_SPEC,
    INSTANCE_NOTIFIER_VR,
    LIB_SPEC,
    NOVA_FPING_VR,
    ROOT,
    assert_one_line_error,
    build,
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
    results = {r["package"]: r for r in json.loads(run.stdout)}
    assert set(results) == {"nova-fping", "libaltai", "altai-app"}
    assert results["libaltai"]["nevra"] == "libaltai-1.2-1.el6.src"
    assert all(r["builder"] == "rpmbuild" and r["signed_by"]["development"] for r in results.values())
    assert "libaltai-devel" in " ".join(results["altai-app"]["notes"])  # the unchecked BuildRequires

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
    assert len(lines) == 7 and all(line.endswith("digests signatures OK") for line in lines)
    # libaltai provides what altai-app BuildRequires: its build ended (the timing log says so) before
    # altai-app's started; signing it may go on beside altai-app's build
    stderr = run.stderr.splitlines()
    lib_built = stderr.index(next(ln for ln in stderr if ln.startswith("time: libaltai: build (rpmbuild)")))
    app_start = next(i for i, ln in enumerate(stderr) if "altai-app: building" in ln)
    assert lib_built < app_start
    assert (logs(out) / "libaltai" / "build.log").read_text().count("+ cat lib.txt") == 1


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
    assert row.startswith("nova-fping") and f"nova-fping-{NOVA_FPING_VR}" in row and "DEVELOPMENT" in row
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
    (result,) = json.loads(run.stdout)
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
    release["app"].commit({"altai-app.spec": APP_SPEC.replace("%{BUILD_STEP}", "echo compiling; exit 3")})
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


def test_mock_asked_for_but_missing(release, state_dir, gnupghome):
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "mock", env={"PATH": "/usr/bin:/bin"})
    assert_one_line_error(run, "mock is not installed")
    assert tree(release["out"]) == {}


FAKE_MOCK = r'''#!/usr/bin/env python3
"""FakeMock: a test stand-in for Fedora's mock, which cannot run on Debian. It records its argv and the
config it was given, then does what mock's --rebuild does with a plain rpmbuild, writing results and
build.log into --resultdir."""
import json, os, shutil, subprocess, sys, tempfile
args = sys.argv[1:]
config = args[args.index("-r") + 1]
result = args[args.index("--resultdir") + 1]
srpm = args[args.index("--rebuild") + 1]
with open(os.environ["FAKE_MOCK_RECORD"], "a") as rec:
    rec.write(json.dumps({"argv": sys.argv, "config": open(config).read()}) + "\n")
if os.environ.get("FAKE_MOCK_FAIL"):
    with open(os.path.join(result, "build.log"), "w") as log:
        log.write("+ make\nerror: Bad exit status from /var/tmp/rpm-tmp (%build)\n")
    sys.exit(30)
opts = {"macros": {}, "environment": {}, "dnf.conf": "[main]\n"}
exec(open(config).read(), {"config_opts": opts, "include": lambda _name: None})
if os.environ.get("FAKE_MOCK_CHECK_BUILDREQUIRES"):
    # as mock's chroot would: every BuildRequires must come from the config's repositories (file:// ones
    # with metadata, which mock bind-mounts) or from the chroot's base (FAKE_MOCK_BASE)
    import configparser, urllib.parse
    repos = configparser.ConfigParser(interpolation=None)
    repos.read_string(opts["dnf.conf"])
    def names(query, path):
        out = subprocess.run(["rpm", "-qp", "--qf", query, path], capture_output=True, text=True, check=True)
        return set(out.stdout.split())
    provided = set(os.environ.get("FAKE_MOCK_BASE", "").split())
    for section in repos.sections():
        url = repos[section].get("baseurl", "")
        where = urllib.parse.unquote(urllib.parse.urlparse(url).path)
        if url.startswith("file://") and os.path.exists(os.path.join(where, "repodata", "repomd.xml")):
            for name in os.listdir(where):
                if name.endswith(".rpm"):
                    provided |= names("[%{PROVIDENAME}\n]", os.path.join(where, name))
    missing = sorted(n for n in names("[%{REQUIRENAME}\n]", srpm) if n not in provided and "(" not in n)
    if missing:
        with open(os.path.join(result, "root.log"), "w") as log:
            log.write("".join(f"DEBUG util.py: No matching package to install: '{n}'\n" for n in missing))
            log.write("ERROR: Command failed: dnf builddep\n")
        sys.exit(30)
top = tempfile.mkdtemp()
# as mock's chroot: the config's macros (dist, build host, SOURCE_DATE_EPOCH's use) and environment apply
defines = [a for name, value in opts["macros"].items() for a in ("--define", f"{name.lstrip('%')} {value}")]
proc = subprocess.run(["rpmbuild", "--nodeps", "--define", "_topdir " + top, *defines, "--rebuild", srpm],
                      capture_output=True, text=True, env={**os.environ, **opts["environment"]})
open(os.path.join(result, "build.log"), "w").write(proc.stdout + proc.stderr)
for d, _, files in os.walk(os.path.join(top, "RPMS")):
    for f in files:
        shutil.copy(os.path.join(d, f), result)
shutil.rmtree(top)
sys.exit(proc.returncode)
'''


class _MockConfigOpts(dict):
    """What mock's config loader gives an exec'd config: nested option dicts and include()."""

    def __init__(self) -> None:
        super().__init__(macros={}, environment={}, **{"dnf.conf": "[main]\n"})


@pytest.fixture
def fake_mock(tmp_path):
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    (bindir / "mock").write_text(FAKE_MOCK)
    (bindir / "mock").chmod(0o755)
    record = tmp_path / "mock-calls.jsonl"
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_MOCK_RECORD": str(record)}, record


def test_mock_builder_argv_and_config(release, state_dir, gnupghome, fake_mock):
    env, record = fake_mock
    run = build(release, state_dir, gnupghome, "libaltai", "altai-app", "--jobs", "2", "--json", env=env)
    assert run.returncode == 0, run.stderr
    assert {r["builder"] for r in json.loads(run.stdout)} == {"mock"}  # auto picks mock where it exists
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 2
    for call in calls:
        argv = call["argv"]
        assert argv[1] == "-r" and argv[2].endswith(".cfg")
        assert argv[3] == "--uniqueext" and argv[5] == "--resultdir" and argv[7] == "--rebuild"
        assert argv[8].endswith(".src.rpm") and len(argv) == 9
        includes: list[str] = []
        opts = _MockConfigOpts()
        exec(compile(call["config"], argv[2], "exec"), {"config_opts": opts, "include": includes.append})  # noqa: S102
        assert includes == ["epel-6-x86_64.cfg"]
        assert opts["macros"]["%dist"] == ".el6"
        assert opts["rpmbuild_networking"] is False
        assert opts["root"].startswith("altai-epel-6-x86_64-") and argv[4] in opts["root"]
        assert opts["environment"]["SOURCE_DATE_EPOCH"].isdigit()
    assert calls[0]["argv"][4] != calls[1]["argv"][4]  # parallel builds never share a chroot


def test_mock_config_includes_the_published_release_repositories(release, state_dir, gnupghome, fake_mock):
    env, record = fake_mock
    assert build(release, state_dir, gnupghome, "nova-fping", "--builder", "rpmbuild").returncode == 0
    assert build(release, state_dir, gnupghome, "libaltai", "--builder", "mock", env=env).returncode == 0
    (call,) = [json.loads(line) for line in record.read_text().splitlines()]
    opts = _MockConfigOpts()
    exec(compile(call["config"], "cfg", "exec"), {"config_opts": opts, "include": lambda _: None})  # noqa: S102
    assert f"baseurl={(release['out'] / 'centos6').as_uri()}" in opts["dnf.conf"]
    assert "[altai-centos6]" in opts["dnf.conf"]


def test_mock_installs_what_the_run_built_earlier(release, state_dir, gnupghome, fake_mock):
    """altai-app BuildRequires libaltai-devel, which nothing has published yet: like mockchain, the run keeps a
    repository of its results, and the dependent's chroot gets it; a package that needs nothing of the run
    does not."""
    env, record = fake_mock
    env = {**env, "FAKE_MOCK_CHECK_BUILDREQUIRES": "1"}
    run = build(release, state_dir, gnupghome, "libaltai", "altai-app", "--builder", "mock", "--jobs", "2", env=env)
    assert run.returncode == 0, run.stderr
    configs = {}
    for line in record.read_text().splitlines():
        call = json.loads(line)
        opts = _MockConfigOpts()
        exec(compile(call["config"], "cfg", "exec"), {"config_opts": opts, "include": lambda _: None})  # noqa: S102
        configs[call["config"].split("mock configuration for ", 1)[1].split()[0]] = opts["dnf.conf"]
    assert "[altai-this-run]" in configs["altai-app"]
    assert "[altai-this-run]" not in configs["libaltai"]
    assert "libaltai-devel" in " ".join(p for p in tree(release["out"]) if p.endswith(".rpm"))


def test_mock_without_the_runs_repository_cannot_build_the_dependent(release, state_dir, gnupghome, fake_mock):
    """The control: FakeMock really refuses a BuildRequires that none of its repositories has."""
    env, _ = fake_mock
    env = {**env, "FAKE_MOCK_CHECK_BUILDREQUIRES": "1"}
    run = build(release, state_dir, gnupghome, "altai-app", "--builder", "mock", env=env)
    log = logs(release["out"]) / "altai-app" / "root.log"
    assert_one_line_error(run, "altai-app", "build failed in mock", str(log))
    assert "No matching package to install: 'libaltai-devel'" in log.read_text()


def test_mock_failure_reports_build_log_tail(release, state_dir, gnupghome, fake_mock):
    env, _ = fake_mock
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "mock", env={**env, "FAKE_MOCK_FAIL": "1"})
    log = logs(release["out"]) / "libaltai" / "build.log"
    assert_one_line_error(run, "libaltai", "build failed in mock", str(log), "Bad exit status")
    assert tree(release["out"]) == {}


def test_shipped_layout_release_job_builds_both_packages_in_order(tmp_path, state_dir, gnupghome):
    """The CI release job on the embedded layout: nova-fping first (instance-notifier BuildRequires it)."""
    out = tmp_path / "out"
    run = run_tool(
        "build.py",
        "--all",
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
    built = [p for p in packages_and_keys(out) if p.endswith(".rpm")]
    assert len(built) == 4 and any(
        p.startswith(f"centos6/instance-notifier-{INSTANCE_NOTIFIER_VR}.noarch") for p in built
    )
    rcfile = ROOT / "specs" / "instance-notifier.rpmlintrc"
    lint = subprocess.run(
        ["rpmlint", "-r", str(rcfile), *(str(out / p) for p in built if "instance-notifier" in p)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0 and "0 errors, 0 warnings" in lint.stdout, lint.stdout


def test_a_run_leaves_no_gpg_agent_of_its_own(release, gnupghome, tmp_path):
    state = tmp_path / "fresh-state"
    assert build(release, state, gnupghome, "libaltai").returncode == 0
    assert str(state / "dev-gnupg") not in gpg_agent_homes()
