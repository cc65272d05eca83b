"""A hostile spec tries the escapes that worked when bubblewrap kept root's capabilities (mknod of the host
disk + mount, reading a 0600 file outside the build, reading the signing key, writing outside, reaching a
server on 127.0.0.1, a nested user namespace), while it is parsed and in %build. Each attempt must fail.

The probe reports through the package itself: `%description` (filled while rpmbuild -bs parses the spec)
and the build log (%build). Side effects are checked on the host."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from altai_testlib import ROOT, build, logs, run_tool

PROBES = ("caps", "mknod", "mount", "disk", "canary", "devkey", "root", "write", "net", "userns")


def probe_script(canary: Path, state_dir: Path, host_dir: Path, port: int) -> str:
    """POSIX sh that tries each escape and prints `PROBE name=ok` (escaped) or `PROBE name=blocked`."""
    st = os.stat(canary)
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    return textwrap.dedent(f"""\
        r() {{ if [ "$2" = 0 ]; then echo "PROBE $1=ok"; else echo "PROBE $1=blocked"; fi; }}
        caps=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
        if [ "$caps" = 0000000000000000 ]; then echo "PROBE caps=blocked"; else echo "PROBE caps=ok"; fi
        d=$(mktemp -d)
        mount -t tmpfs -o dev,mode=755 none "$d" 2>/dev/null; r mount $?
        mknod "$d/disk" b {major} {minor} 2>/dev/null; r mknod $?
        mkdir -p "$d/m"
        mount -o ro,noload "$d/disk" "$d/m" 2>/dev/null || mount -o ro "$d/disk" "$d/m" 2>/dev/null
        cat "$d/m{canary}" >/dev/null 2>&1; r disk $?
        cat "{canary}" >/dev/null 2>&1; r canary $?
        ls "{state_dir}/dev-gnupg/private-keys-v1.d" >/dev/null 2>&1; r devkey $?
        ls /root/.gnupg >/dev/null 2>&1 || ls /root >/dev/null 2>&1; r root $?
        touch "{host_dir}/pwned" 2>/dev/null; r write $?
        bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null; r net $?
        unshare -Ur true 2>/dev/null; r userns $?
        umount "$d/m" 2>/dev/null; umount "$d" 2>/dev/null; rm -rf "$d"  # the control run is on the host
        """)


def spec_with_probe(script: str) -> str:
    encoded = base64.b64encode(script.encode()).decode()
    run = f"echo {encoded} | base64 -d | sh"
    return textwrap.dedent(f"""\
        Name: hostile
        Version: 1
        Release: 1%{{?dist}}
        Summary: A spec that tries to leave the sandbox
        License: MIT
        Source0: hostile-1.tar.gz
        BuildArch: noarch
        %global probe %({run} 2>&1)
        %description
        %{{probe}}
        %prep
        %setup -q
        %build
        {run}
        %install
        mkdir -p %{{buildroot}}/usr/share/hostile
        cp README %{{buildroot}}/usr/share/hostile/
        %files
        /usr/share/hostile
        """)


class Listener:
    """A TCP server on the host's 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def host_secrets(tmp_path: Path, state_dir: Path) -> dict[str, Path]:
    canary = tmp_path / "secret" / "canary"
    canary.parent.mkdir()
    canary.write_text("the host's secret\n")
    canary.chmod(0o600)
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    # the session's development key: build.py signs with it, so it exists before the probe runs
    keyhome = state_dir / "dev-gnupg"
    keyhome.mkdir(parents=True, exist_ok=True, mode=0o700)
    (keyhome / "private-keys-v1.d").mkdir(exist_ok=True, mode=0o700)
    return {"canary": canary, "host_dir": host_dir, "state_dir": state_dir}


def reported(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("PROBE "):
            name, _, verdict = line.removeprefix("PROBE ").partition("=")
            found[name] = verdict
    return found


def assert_all_blocked(report: dict[str, str], where: str) -> None:
    assert set(report) == set(PROBES), (where, report)
    escaped = sorted(name for name, verdict in report.items() if verdict != "blocked")
    assert not escaped, f"{where}: the spec escaped the sandbox: {escaped}"


def test_probe_escapes_outside_the_sandbox(host_secrets, listener, tmp_path):
    """The probe itself works: run as root without the sandbox, the escapes it reports do succeed."""
    script = probe_script(host_secrets["canary"], host_secrets["state_dir"], host_secrets["host_dir"], listener.port)
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    report = reported(proc.stdout)
    assert {n: report[n] for n in ("caps", "canary", "devkey", "write", "net")} == dict.fromkeys(
        ("caps", "canary", "devkey", "write", "net"), "ok"
    ), report
    assert (host_secrets["host_dir"] / "pwned").exists()
    assert listener.accepted >= 1


def test_spec_parsing_cannot_escape(make_repo, host_secrets, listener, tmp_path):
    script = probe_script(host_secrets["canary"], host_secrets["state_dir"], host_secrets["host_dir"], listener.port)
    repo = make_repo({"hostile.spec": spec_with_probe(script), "README": "hi\n"})
    out = tmp_path / "out"
    run = run_tool("git2srpm.py", "--outdir", str(out), str(repo.path))
    assert run.returncode == 0, run.stderr
    srpm = run.stdout.splitlines()[-1]
    description = subprocess.run(
        ["rpm", "-qp", "--qf", "%{DESCRIPTION}", srpm], capture_output=True, text=True, check=True
    ).stdout
    assert_all_blocked(reported(description), "rpmbuild -bs")
    # the spec reader and rpmbuild -bs both ran the probe: neither wrote nor connected
    assert not (host_secrets["host_dir"] / "pwned").exists()
    assert listener.accepted == 0
    assert host_secrets["canary"].read_text() == "the host's secret\n"


def test_build_cannot_escape(release, make_repo, state_dir, gnupghome, host_secrets, listener, tmp_path):
    script = probe_script(host_secrets["canary"], host_secrets["state_dir"], host_secrets["host_dir"], listener.port)
    hostile = make_repo({"hostile.spec": spec_with_probe(script), "README": "hi\n"})
    layout = release["layout"]
    layout.write_text(
        layout.read_text()
        + textwrap.dedent(f"""
        [packages.hostile]
        git = "{hostile.path}"
        repository = "misc"
        """)
    )
    run = build(release, state_dir, gnupghome, "hostile")
    assert run.returncode == 0, run.stderr
    build_log = (logs(release["out"]) / "hostile" / "build.log").read_text()
    # the log holds the %build probe (and, from the parse of --rebuild, nothing else that says PROBE)
    assert_all_blocked(reported(build_log), "%build")
    assert not (host_secrets["host_dir"] / "pwned").exists()
    assert listener.accepted == 0


def test_sandbox_has_no_project_state_or_gpg_homes():
    """What the view shows of the host: /usr and a few /etc files; not the project's .state nor gpg homes."""
    from altai_release.sandbox.bubblewrap import Sandbox

    probe = "for p in /root /home /work /etc/shadow " + str(ROOT / ".state") + "; do [ -e $p ] && echo $p; done; true"
    proc = Sandbox().run(["/bin/sh", "-c", probe], "probe", 60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == []
    ident = Sandbox().run(["/usr/bin/id", "-un"], "id", 60)
    assert ident.stdout.strip() == "mockbuild"
