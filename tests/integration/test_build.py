"""tools/build.py end to end: real git repositories, sandboxed rpmbuild, gpg and rpmsign, signatures read
back with rpmkeys in a temporary rpmdb. Fedora's mock cannot run here: its tests use FakeMock, a stand-in
executable named as such, and check the exact argv and config that the real mock would get."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
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
    assert len(lines) == 7
    assert all(line.endswith("digests signatures OK") for line in lines)
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


class _MockConfigOpts(dict):
    """What mock's config loader gives an exec'd config: nested option dicts and include()."""

    def __init__(self) -> None:
        super().__init__(macros={}, environment={}, **{"dnf.conf": "[main]\n"})


MOCK_CONFIGS = ROOT / "tests" / "doubles" / "mock-configs"


@pytest.fixture
def fake_mock(tmp_path, release):
    """FakeMock (tests/doubles/fakemock.py) as `mock` on PATH, and the test release's layout pointing mock at the test
    config tree (laid out as mock-core-configs installs /etc/mock, EPEL 6 under eol/)."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    shutil.copy(ROOT / "tests" / "doubles" / "fakemock.py", bindir / "mock")
    (bindir / "mock").chmod(0o755)
    record = tmp_path / "mock-calls.jsonl"
    layout = release["layout"]
    chroot = 'mock_chroot = "epel-6-x86_64"\n'
    layout.write_text(layout.read_text().replace(chroot, f'{chroot}mock_configdir = "{MOCK_CONFIGS}"\n', 1))
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_MOCK_RECORD": str(record)}, record


def test_mock_builder_argv_and_config(release, state_dir, gnupghome, fake_mock):
    """The config mock loads: the stock EPEL 6 config from eol/ (mock-core-configs >= 33.4), a stable root
    (mock's caches are keyed by it) and the uniqueness in --uniqueext; two runs use the same root name; what
    is published carries the dist, as a real mock build's NEVRA does."""
    env, record = fake_mock
    run = build(release, state_dir, gnupghome, "libaltai", "altai-app", "--jobs", "2", "--json", env=env)
    assert run.returncode == 0, run.stderr
    assert {r["builder"] for r in json.loads(run.stdout)} == {"mock"}  # auto picks mock where it exists
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 2
    for call in calls:
        argv = call["argv"]
        assert argv[1] == "-r"
        assert argv[2].endswith(".cfg")
        assert argv[3:5] == ["--configdir", str(MOCK_CONFIGS)]
        assert argv[5] == "--uniqueext"
        assert argv[7] == "--resultdir"
        assert argv[9] == "--rebuild"
        assert argv[10].endswith(".src.rpm")
        assert len(argv) == 11
        includes: list[str] = []
        opts = _MockConfigOpts()
        exec(compile(call["config"], argv[2], "exec"), {"config_opts": opts, "include": includes.append})  # noqa: S102
        assert includes == ["eol/epel-6-x86_64.cfg"]
        assert opts["macros"]["%dist"] == ".el6"
        assert opts["rpmbuild_networking"] is False
        assert opts["root"] == "altai-epel-6-x86_64"
        assert call["root"] == f"altai-epel-6-x86_64-{argv[6]}"
        assert opts["environment"]["SOURCE_DATE_EPOCH"].isdigit()
    assert calls[0]["argv"][6] != calls[1]["argv"][6]  # parallel builds never share a chroot
    published = sorted(p for p in tree(release["out"]) if p.endswith(".rpm"))
    assert "deps/misc/libaltai-1.2-1.el6.x86_64.rpm" in published
    assert not [p for p in published if ".el6" not in p]
    # the provenance names the chroot mock built in, by its stock config's SHA-256
    statement = release["out"] / "metadata/provenance/libaltai-1.2-1.el6.x86_64.rpm.intoto.jsonl"
    payload = json.loads(base64.b64decode(json.loads(statement.read_text())["payload"]))
    builder = payload["predicate"]["runDetails"]["builder"]
    assert builder["id"].endswith("/builders/mock")
    config_digest = hashlib.sha256((MOCK_CONFIGS / "eol" / "epel-6-x86_64.cfg").read_bytes()).hexdigest()
    assert builder["builderDependencies"] == [
        {"name": "epel-6-x86_64", "uri": "mock://epel-6-x86_64", "digest": {"sha256": config_digest}}
    ]
    assert build(release, state_dir, gnupghome, "libaltai", "--rebuild", env=env).returncode == 0
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 3
    assert {c["config_root"] for c in calls} == {"altai-epel-6-x86_64"}


def test_mock_chroot_the_host_lacks_is_refused_naming_the_paths(release, state_dir, gnupghome, fake_mock):
    env, record = fake_mock
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('mock_chroot = "epel-6-x86_64"', 'mock_chroot = "epel-5-x86_64"'))
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "mock", env=env)
    assert_one_line_error(run, "mock chroot 'epel-5-x86_64': this host's mock has no such config",
                          f"{MOCK_CONFIGS}/epel-5-x86_64.cfg, {MOCK_CONFIGS}/eol/epel-5-x86_64.cfg")  # fmt: skip
    assert not record.exists()  # refused before mock ran
    # named with its eol/ directory, it is found there
    layout.write_text(layout.read_text().replace('"epel-5-x86_64"', '"eol/epel-6-x86_64"'))
    assert build(release, state_dir, gnupghome, "libaltai", "--builder", "mock", env=env).returncode == 0


def test_mock_refusing_its_config_is_one_line_with_mocks_reason(release, state_dir, gnupghome, fake_mock, tmp_path):
    """A config tree whose template is missing: mock exits 3 with 'Could not find included config file'."""
    env, _ = fake_mock
    broken = tmp_path / "mock-configs"
    shutil.copytree(MOCK_CONFIGS, broken)
    (broken / "eol" / "templates" / "centos-6.tpl").unlink()
    layout = release["layout"]
    layout.write_text(layout.read_text().replace(str(MOCK_CONFIGS), str(broken)))
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "mock", env=env)
    assert_one_line_error(run, "libaltai: mock refused its config",
                          f"Could not find included config file: {broken}/eol/templates/centos-6.tpl")  # fmt: skip
    assert tree(release["out"]) == {}


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
    """The control: FakeMock really refuses a BuildRequires that none of its repositories has, where mock
    puts it (root.log, exit 30), and the one line quotes root.log's reason, not build.log's 'Mock Version'."""
    env, _ = fake_mock
    env = {**env, "FAKE_MOCK_CHECK_BUILDREQUIRES": "1"}
    run = build(release, state_dir, gnupghome, "altai-app", "--builder", "mock", env=env)
    log = logs(release["out"]) / "altai-app" / "root.log"
    assert_one_line_error(run, "altai-app: mock could not prepare the build root", str(log),
                          "no package provides the BuildRequires libaltai-devel")  # fmt: skip
    assert "No matching package to install: 'libaltai-devel'" in log.read_text()
    assert (logs(release["out"]) / "altai-app" / "build.log").read_text().startswith("Mock Version")


def test_mock_failure_reports_build_log_tail(release, state_dir, gnupghome, fake_mock):
    env, _ = fake_mock
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "mock", env={**env, "FAKE_MOCK_FAIL": "1"})
    log = logs(release["out"]) / "libaltai" / "build.log"
    assert_one_line_error(run, "libaltai", "build failed in mock", str(log), "Bad exit status")
    assert tree(release["out"]) == {}


def test_a_failed_mock_build_stops_its_siblings(release, state_dir, gnupghome, fake_mock, make_repo):
    """One package fails while another's mock runs for minutes: the run stops that mock (SIGTERM to its
    process group) instead of waiting for it."""
    env, record = fake_mock
    slow = make_repo({"slow.spec": APP_SPEC.replace("altai-app", "slow").replace("BuildRequires", "#")
                      .replace("%{BUILD_STEP}", "true"), "app.txt": "x\n"})  # fmt: skip
    layout = release["layout"]
    layout.write_text(layout.read_text() + f'\n[packages.slow]\ngit = "{slow.path}"\nrepository = "misc"\n')
    env = {**env, "FAKE_MOCK_SLEEP_FOR": "slow", "FAKE_MOCK_SLEEP": "120", "FAKE_MOCK_FAIL_FOR": "libaltai"}
    start = time.monotonic()
    run = build(release, state_dir, gnupghome, "libaltai", "slow", "--builder", "mock", "--jobs", "2", env=env)
    elapsed = time.monotonic() - start
    assert_one_line_error(run, "libaltai", "build failed in mock")
    assert elapsed < 60, f"the run waited {elapsed:.0f}s for the sibling"
    calls = {json.loads(line)["argv"][-1].rsplit("/", 1)[1].split("-")[0]: json.loads(line)
             for line in record.read_text().splitlines()}  # fmt: skip
    assert calls["slow"]["terminated"] is True
    assert tree(release["out"]) == {}


@pytest.mark.skipif(shutil.which("mock") is None, reason="mock is not installed on this host (it is not packaged "
                    "for Debian); on a Fedora or EL CI host this test runs the real mock's config loader")  # fmt: skip
def test_real_mock_loads_the_rendered_config(release, tmp_path):
    """The only skip of its kind: where mock exists, `mock -r CFG --debug-config` on the config we render."""
    from altai_release.builders.builder import BuildJob
    from altai_release.builders.mock import MockBuilder
    from altai_release.layout import load_layout

    layout = load_layout(release["layout"])
    entry = layout.package("libaltai")
    builder = MockBuilder(layout.templates, "altai 9.9", tmp_path / "run-repo", chroots=[entry.mock_chroot])
    builder.start({})
    job = BuildJob(entry, tmp_path / "x.src.rpm", tmp_path, tmp_path, 1_700_000_000, "check")
    config = tmp_path / "libaltai.cfg"
    config.write_text(builder.config(job))
    proc = subprocess.run(["mock", "-r", str(config), "--debug-config"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


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


def test_a_run_leaves_no_gpg_agent_of_its_own(release, gnupghome, tmp_path):
    state = tmp_path / "fresh-state"
    assert build(release, state, gnupghome, "libaltai").returncode == 0
    assert str(state / "dev-gnupg") not in gpg_agent_homes()


def test_fakemock_refuses_what_mocks_parser_refuses(tmp_path):
    """The double accepts only the options of mock's own parser: were the builder to pass another, every
    FakeMock test above would fail as the real mock would."""
    fakemock = str(ROOT / "tests" / "doubles" / "fakemock.py")
    proc = subprocess.run([sys.executable, fakemock, "-r", "x.cfg", "--no-such", "1"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2
    assert "mock: error: no such option: --no-such" in proc.stderr
    proc = subprocess.run([sys.executable, fakemock, "-r", str(tmp_path / "x.cfg"),
                           "--configdir"], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2
    assert "--configdir option requires 1 argument" in proc.stderr


def test_verify_rebuilds_with_the_builder_a_release_uses(release, state_dir, gnupghome, fake_mock):
    """`--verify` rebuilds with mock where mock is what a release builds with (auto picks it, as for a build):
    the release FakeMock built is reproduced by FakeMock, and the mock calls show the SRPMs it rebuilt."""
    env, record = fake_mock
    assert build(release, state_dir, gnupghome, "libaltai", env=env).returncode == 0
    built = len(record.read_text().splitlines())
    run = build(release, state_dir, gnupghome, "--verify", "--json", env=env)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert any(f["verdict"].startswith("rebuilt with mock") for f in report["files"])
    assert [f["verdict"] for f in report["files"] if f["path"].startswith("deps/misc/")] == ["reproduced"] * 2
    assert len(record.read_text().splitlines()) == built + 1  # one mock --rebuild of the published SRPM


def test_json_modes_print_a_json_error_object_when_they_fail(release, state_dir, gnupghome):
    """build.py --json, --accept --json and --gate printed nothing on stdout when they failed: a CI job keeps
    stdout as its artifact. One JSON object with the error line and the exit code."""
    import json

    run = build(release, state_dir, gnupghome, "nosuch", "--json")
    assert run.returncode == 2
    assert json.loads(run.stdout) == {"ok": False, "error": run.stderr.splitlines()[-1].removeprefix("error: "),
                                      "exit_code": 2}  # fmt: skip
    run = build(release, state_dir, gnupghome, "--accept", "--json")
    assert run.returncode != 0
    assert json.loads(run.stdout)["exit_code"] == run.returncode


def test_sigterm_stops_a_running_local_build_at_once(release, state_dir, gnupghome, make_repo):
    """SIGTERM to build.py waited for the running rpmbuild (its sandbox runs in a session of its own, which
    no signal of ours reaches): the run now ends its sandboxes and exits 143 within seconds."""
    import signal
    import time

    from altai_testlib import add_package, build_argv, hostile

    repo = make_repo({"hostile.spec": hostile(build_step="sleep 120"), "README": "hi\n"})
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
    leftover = subprocess.run(["pgrep", "-f", "sleep 120"], capture_output=True, text=True).stdout.split()
    assert leftover == []
