"""Packages that install and start on the target they are built for: the EL6 build of each service ships
a SysV init script (chkconfig scriptlets) and no unit, the EL7 build the systemd unit (%systemd_*
scriptlets) and no init script; rpmlint stays clean; the target gate refuses what EL6's rpm 4.8 cannot
read; and the init script itself starts, reports and stops the real API, with a stand-in for EL's
/etc/init.d/functions (Debian has none)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from altai_testlib import ROOT, assert_one_line_error, run_tool, shipped_buildroot, tree
from nova_fping_testing import free_port

LAYOUT = """\
[release]
name = "altai"
version = "9.9"
dist = ".el{v}"
mock_chroot = "epel-{v}-x86_64"
macros = ["{root}/repo-layout/macros/el{v}.macros"]
templates = "{root}/repo-layout/templates"
target_rpm = "4.8"

{buildroot}
[keys.altai]
id = "Altai Test Release Key"
development = true

[repositories.centos]
path = "centos"
signed_by = "altai"
content = "own"
sources = "centos-srpms"

[repositories.centos-srpms]
path = "centos/SRPMS"
signed_by = "altai"
content = "sources"

[packages.nova-fping]
git = "{root}"
subdir = "src/nova-fping"
spec = "specs/nova-fping.spec"
repository = "centos"

[packages.instance-notifier]
git = "{root}"
subdir = "src/instance-notifier"
spec = "specs/instance-notifier.spec"
repository = "centos"
"""


def build(layout: Path, out: Path, state: Path, *args: str) -> Any:
    home = out.parent / "gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    return run_tool(
        "build.py",
        "--layout",
        str(layout),
        "--out",
        str(out),
        "--state-dir",
        str(state),
        *args,
        env={"GNUPGHOME": str(home)},
    )


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory, state_dir: Path) -> dict[int, Path]:
    built = {}
    for v in (6, 7):
        tmp = tmp_path_factory.mktemp(f"el{v}")
        layout = tmp / "altai.toml"
        layout.write_text(LAYOUT.format(v=v, root=ROOT, buildroot=shipped_buildroot("systemd")))
        run = build(layout, tmp / "out", state_dir, "--all", "--builder", "mock")
        assert run.returncode == 0, run.stderr
        built[v] = tmp / "out"
    return built


def rpm_q(path: Path, *args: str) -> str:
    return subprocess.run(
        ["rpm", "-qp", "--nosignature", *args, str(path)], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(
    ("name", "service", "unit"),
    [
        ("nova-fping", "nova-fping-api", "nova-fping-api.service"),
        ("instance-notifier", "instance-notifier", "instance-notifier.service"),
    ],
)
def test_el6_ships_an_init_script_and_el7_a_unit(variants, name, service, unit):
    el6 = next((variants[6] / "centos").glob(f"{name}-*.el6.noarch.rpm"))
    el7 = next((variants[7] / "centos").glob(f"{name}-*.el7.noarch.rpm"))
    files6, files7 = rpm_q(el6, "-l").split(), rpm_q(el7, "-l").split()
    assert f"/etc/rc.d/init.d/{service}" in files6
    assert f"/usr/lib/systemd/system/{unit}" not in files6
    assert f"/usr/lib/systemd/system/{unit}" in files7
    assert f"/etc/rc.d/init.d/{service}" not in files7
    for files in (files6, files7):
        assert f"/etc/logrotate.d/{name}" in files
    scripts6, scripts7 = rpm_q(el6, "--scripts"), rpm_q(el7, "--scripts")
    assert f"/sbin/chkconfig --add {service}" in scripts6
    assert f"/sbin/chkconfig --del {service}" in scripts6
    assert f"/sbin/service {service} condrestart" in scripts6
    assert "systemctl" not in scripts6
    assert f"systemctl --no-reload preset {unit}" in scripts7
    assert f"systemctl try-restart {unit}" in scripts7
    assert "chkconfig" not in scripts7
    requires6 = rpm_q(el6, "--requires")
    assert "chkconfig" in requires6
    assert "initscripts" in requires6
    assert "systemd" not in requires6
    assert "systemd" in rpm_q(el7, "--requires")


def test_both_variants_are_rpmlint_clean_with_explained_filters(variants):
    for name in ("nova-fping", "instance-notifier"):
        # rpmlint takes two SRPMs of one name for one package with two specs: the EL6 one stands for both
        built = [*(variants[6] / "centos").rglob(f"{name}-*.rpm"), *(variants[7] / "centos").glob(f"{name}-*.rpm")]
        assert len(built) == 3
        rcfile = ROOT / "specs" / f"{name}.rpmlintrc"
        lint = subprocess.run(["rpmlint", "-r", str(rcfile), *map(str, built)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
        assert "0 errors, 0 warnings" in lint.stdout


def test_target_gate_refuses_what_the_targets_rpm_cannot_read(variants, make_repo, state_dir, tmp_path):
    zstd = textwrap.dedent("""\
        Name: modern
        Version: 1
        Release: 1%{?dist}
        Summary: Built with a payload EL6 cannot open
        License: MIT
        Source0: modern-1.tar.gz
        BuildArch: noarch
        %define _binary_payload w19.zstdio
        %description
        Modern.
        %prep
        %setup -q
        %install
        mkdir -p %{buildroot}/usr/share/modern
        %files
        /usr/share/modern
        """)
    repo = make_repo({"modern.spec": zstd})
    out = variants[6]
    layout = out.parent / "altai.toml"
    layout.write_text(layout.read_text() + f'\n[packages.modern]\ngit = "{repo.path}"\nrepository = "centos"\n')
    before = tree(out)
    run = build(layout, out, state_dir, "modern")
    assert_one_line_error(
        run,
        "modern: modern-1-1.el6.noarch.rpm needs",
        "rpmlib(PayloadIsZstd) (rpm 4.14.0)",
        "a zstd payload",
        "rpm 4.8 cannot read it",
    )
    assert run.returncode == 4
    assert tree(out) == before


# FakeInitFunctions (tests/doubles/init-functions.sh): a stand-in for EL's /etc/rc.d/init.d/functions
FUNCTIONS = ROOT / "tests" / "doubles" / "init-functions.sh"
SERVER = "7e0c2a5e-8d2f-4c3b-9f1e-2b6a1d0c4e51"


class InitScript:
    """nova-fping-api's EL6 init script run against FakeInitFunctions, for the real API on a free port."""

    def __init__(
        self, tmp_path: Path, conf: str = "[DEFAULT]\n", servers: list[dict[str, Any]] | None = None, **env: str
    ) -> None:
        self.port = free_port()
        inventory = tmp_path / "inventory.json"
        inventory.write_text(json.dumps({"servers": servers or []}))
        launcher = tmp_path / "nova-fping-api"
        launcher.write_text(
            f"#!/bin/sh\nexec {ROOT}/.venv/bin/python -m nova_fping.cli --noauth --inventory "
            f'{inventory} --listen 127.0.0.1:{self.port} "$@"\n'
        )
        launcher.chmod(0o755)
        config = tmp_path / "nova-fping.conf"
        config.write_text(conf)
        self.pidfile = tmp_path / "run" / "nova-fping-api.pid"
        self.lockfile = tmp_path / "lock"
        self.logfile = tmp_path / "log" / "api.log"
        self.env = {
            "PATH": os.environ["PATH"],
            "INIT_FUNCTIONS": str(FUNCTIONS),
            "NOVA_FPING_EXEC": str(launcher),
            "NOVA_FPING_CONFIG": str(config),
            "NOVA_FPING_PIDFILE": str(self.pidfile),
            "NOVA_FPING_LOGFILE": str(self.logfile),
            "NOVA_FPING_LOCKFILE": str(self.lockfile),
            **env,
        }

    def __call__(self, action: str) -> subprocess.CompletedProcess[str]:
        script = ROOT / "src" / "nova-fping" / "etc" / "nova-fping-api.init"
        return subprocess.run(["sh", str(script), action], env=self.env, capture_output=True, text=True, timeout=120)

    def get(self, path: str, timeout: float = 30) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"X-Project-Id": "p1", "X-Roles": "member"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()

    def cleanup(self) -> None:
        if self.pidfile.exists():
            subprocess.run(["kill", "-KILL", self.pidfile.read_text().strip()], check=False)


def alive(pid: int) -> bool:
    """Not a zombie waiting for this machine's pid 1 to reap it (see FakeInitFunctions)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    return not alive(pid)


def test_the_init_script_starts_reports_and_stops_the_api(tmp_path):
    service = InitScript(tmp_path)
    try:
        assert service("status").returncode == 3
        started = service("start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert service.pidfile.is_file()
        assert service.lockfile.exists()
        pid = int(service.pidfile.read_text())
        status = service("status")
        assert status.returncode == 0
        assert f"(pid {pid}) is running" in status.stdout
        limits = Path(f"/proc/{pid}/limits").read_text()
        assert re.search(r"^Max open files\s+4096\s", limits, re.M), limits  # the script's ulimit, as LimitNOFILE
        assert service.get("/v2/p1/os-fping") == (200, b'{"servers": []}')
        assert service("start").returncode == 0
        assert int(service.pidfile.read_text()) == pid
        begun = time.monotonic()
        stopped = service("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert time.monotonic() - begun < 5  # an idle API ends at once; killproc's delay is not waited out
        assert not service.pidfile.exists()
        assert not service.lockfile.exists()
        assert wait_gone(pid)
        assert service("status").returncode == 3
        assert "listening on 127.0.0.1" in service.logfile.read_text()
    finally:
        service.cleanup()


def test_the_init_scripts_stop_lets_a_request_in_flight_finish(tmp_path):
    """EL6's killproc KILLs 1 + 3 s after the TERM unless told a delay, and sleeps all of a delay it is told:
    the script waits for the process in its own loop up to a delay above shutdown_timeout, so a probe of 6 s
    in flight when `service stop` runs still gets its answer, and stop returns once the process is gone."""
    slow_fping = tmp_path / "fping"
    slow_fping.write_text(f'#!/bin/sh\ntouch {tmp_path}/probing\nsleep 6\nexec /usr/bin/fping "$@"\n')
    slow_fping.chmod(0o755)
    conf = f"[DEFAULT]\nshutdown_timeout = 8\n[fping]\npath = {slow_fping}\n[rate_limit]\ncalls = 0\n"
    server = {"id": SERVER, "project_id": "p1", "addresses": ["127.0.0.1"]}
    service = InitScript(tmp_path, conf, [server], NOVA_FPING_STOP_DELAY="30")
    answers: list[tuple[int, bytes]] = []
    try:
        assert service("start").returncode == 0
        pid = int(service.pidfile.read_text())
        asking = threading.Thread(target=lambda: answers.append(service.get(f"/v2/p1/os-fping/{SERVER}")))
        asking.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (tmp_path / "probing").exists():
            time.sleep(0.05)
        begun = time.monotonic()
        stopped = service("stop")
        took = time.monotonic() - begun
        asking.join(30)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert len(answers) == 1, answers
        assert answers[0][0] == 200, answers
        assert json.loads(answers[0][1])["server"]["alive"] is True
        # waited for the drain, and no longer: EL6's killproc -d would sleep 1 s + the whole delay (30 s)
        assert 5 < took < 15
        assert wait_gone(pid, 1)
        assert service("status").returncode == 3
    finally:
        service.cleanup()


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).extend(value.split())
    return settings


@pytest.mark.parametrize(
    ("unit", "written", "drain"),
    [
        (
            "nova-fping/etc/nova-fping-api.service",
            ["/var/log/nova-fping/api.log", "/var/lib/nova-fping/ratelimit.sqlite"],
            30,
        ),
        (
            "instance-notifier/etc/instance-notifier.service",
            ["/var/lib/instance-notifier/state.json", "/var/log/instance-notifier/instance-notifier.log"],
            92,
        ),
    ],
)
def test_the_units_let_the_service_write_what_its_files_name_and_drain(unit, written, drain):
    """ProtectSystem=strict makes the system read-only: the documented log_file, state_file and rate-limit
    file must lie in a directory the unit makes writable; the stop must outlast the service's own drain."""
    settings = unit_settings(ROOT / "src" / unit)
    assert settings["ProtectSystem"] == ["strict"]
    writable = [f"/var/lib/{d}" for d in settings.get("StateDirectory", [])]
    writable += [f"/var/log/{d}" for d in settings.get("LogsDirectory", [])]
    writable += settings.get("ReadWritePaths", [])
    for path in written:
        assert any(path.startswith(directory + "/") for directory in writable), (path, writable)
    assert int(settings["TimeoutStopSec"][0]) > drain


def test_the_notifiers_init_script_stop_returns_once_the_daemon_is_gone(tmp_path):
    """EL6's killproc -d 95 slept its whole delay once the daemon outlived a second: 96 s of downtime for
    every stop or restart of a daemon that ends in a fraction of one."""
    conf = tmp_path / "instance-notifier.conf"
    conf.write_text(
        f"[DEFAULT]\ninterval = 300\nstate_file = {tmp_path}/state.json\n"
        "[api]\nurl = http://127.0.0.1:9/v2/admin\nauth = noauth\nproject_id = admin\n"
    )
    pidfile = tmp_path / "run" / "instance-notifier.pid"
    env = {
        "PATH": os.environ["PATH"],
        "INIT_FUNCTIONS": str(FUNCTIONS),
        "NOTIFIER_EXEC": str(ROOT / ".venv" / "bin" / "instance-notifier"),
        "NOTIFIER_CONFIG": str(conf),
        "NOTIFIER_PIDFILE": str(pidfile),
        "NOTIFIER_LOGFILE": str(tmp_path / "log" / "notifier.log"),
        "NOTIFIER_LOCKFILE": str(tmp_path / "lock"),
    }
    script = ROOT / "src" / "instance-notifier" / "etc" / "instance-notifier.init"

    def service(action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(script), action], env=env, capture_output=True, text=True, timeout=150)

    (tmp_path / "run").mkdir()
    (tmp_path / "log").mkdir()
    try:
        started = service("start")
        assert started.returncode == 0, started.stdout + started.stderr
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        time.sleep(1.5)  # it outlives the second after which EL6's killproc sleeps its whole delay
        begun = time.monotonic()
        stopped = service("stop")
        took = time.monotonic() - begun
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert wait_gone(pid, 1)
        assert took < 10  # the daemon stops within its couriers' 2 s; the delay (95 s) is not slept
        assert service("status").returncode == 3
    finally:
        if pidfile.exists():
            subprocess.run(["kill", "-KILL", pidfile.read_text().strip()], check=False)
