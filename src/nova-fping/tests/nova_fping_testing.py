"""Test support shared by the test suites of nova-fping and of the packages that use it (instance-notifier):
instances made of network namespaces and a real nova-fping-api process on 127.0.0.1.

Instances are network namespaces: a veth pair per instance, the inner end holding the instance's
addresses; an instance is dead when that interface is down. Addresses come from 198.18.0.0/15 and
fd00:a17a::/32, which `unreachable_test_range()` routes to `unreachable` while tests run, so that a
packet for a host that is down never leaves the machine. Needs root."""

import contextlib
import itertools
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

FPING = "/usr/bin/fping"
_counter = itertools.count(1)


def _worker() -> int:
    """The pytest-xdist worker this process is (0 without xdist): each has an address block of its own, so
    that two workers' instances never share an address, and their routes never cover each other's."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) % 8 if name[2:].isdigit() else 0


WORKER = _worker()
# 198.18.0.0/15 in eight /18 blocks, fd00:a17a::/32 in sixteen /36: one of each per worker
TEST_RANGES = (
    ("-4", "198.%d.%d.0/18" % (18 + WORKER // 4, (WORKER % 4) * 64)),
    ("-6", "fd00:a17a:%x000::/36" % WORKER),
)


def _run(argv: List[str], check: bool = False) -> int:
    return subprocess.run(argv, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE).returncode


def ip(*args: str) -> None:
    _run(["ip", *args], check=True)


class Instance:
    def __init__(self, index: int, ipv4: bool = True, ipv6: bool = False, extra_v4: int = 0) -> None:
        tag = "%d%d" % (os.getpid() % 10000, index)
        self.netns = "nft" + tag
        self.host_if, self.inner_if = "nfh" + tag, "nfi" + tag
        octet3, octet4 = divmod(index * 8, 256)  # 8 addresses an instance, 2,048 instances a worker
        base = "198.%d.%d." % (18 + WORKER // 4, (WORKER % 4) * 64 + octet3 % 64)
        six = "fd00:a17a:%x%03x" % (WORKER, index % 0x1000)
        ip("netns", "add", self.netns)
        try:
            ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.inner_if)
            ip("link", "set", self.inner_if, "netns", self.netns)
            ip("addr", "add", base + "%d/29" % (octet4 + 1), "dev", self.host_if)
            ip("link", "set", self.host_if, "up")
            ip("-n", self.netns, "link", "set", "lo", "up")
            self.addresses = []
            if ipv4:
                for k in range(1 + extra_v4):
                    address = base + str(octet4 + 2 + k)
                    ip("-n", self.netns, "addr", "add", address + "/29", "dev", self.inner_if)
                    self.addresses.append(address)
            if ipv6:
                ip("-6", "addr", "add", six + "::1/64", "dev", self.host_if, "nodad")
                ip("-n", self.netns, "-6", "addr", "add", six + "::2/64", "dev", self.inner_if, "nodad")
                self.addresses.append(six + "::2")
            self.up()
        except Exception:
            self.remove()
            raise

    def up(self) -> None:
        """Bring the instance back, as one that just booted: pings sent while it was down left the host's
        neighbour entry INCOMPLETE with its next ARP probe up to a second away, which a ping right after
        would wait out and call the live instance dead."""
        ip("-n", self.netns, "link", "set", self.inner_if, "up")
        ip("neigh", "flush", "dev", self.host_if)

    def down(self) -> None:
        ip("-n", self.netns, "link", "set", self.inner_if, "down")

    def remove(self) -> None:
        _run(["ip", "netns", "del", self.netns])
        _run(["ip", "link", "del", self.host_if])


def next_index() -> int:
    return next(_counter)


def instance_factory() -> Iterator[Callable[..., Instance]]:
    """Generator for a fixture: yields make(ipv4=True, ipv6=False, extra_v4=0) -> Instance, and removes
    every instance it made when resumed, even after a failure."""
    made: List[Instance] = []

    def make(ipv4: bool = True, ipv6: bool = False, extra_v4: int = 0) -> Instance:
        instance = Instance(next_index(), ipv4, ipv6, extra_v4)
        made.append(instance)
        return instance

    try:
        yield make
    finally:
        for instance in made:
            instance.remove()


def unreachable_test_range() -> Iterator[None]:
    """Generator for a fixture: route the test ranges to `unreachable` while it is suspended."""
    added: List[Tuple[str, str]] = []
    for family, prefix in TEST_RANGES:
        if _run(["ip", family, "route", "add", "unreachable", prefix]) == 0:
            added.append((family, prefix))
    try:
        yield
    finally:
        for family, prefix in added:
            _run(["ip", family, "route", "del", "unreachable", prefix])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: "subprocess.Popen", seconds: float = 10.0) -> None:
    """Until something accepts on 127.0.0.1:`port`; RuntimeError when `proc` exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the server exited with status %s before it listened" % proc.returncode) from None
            time.sleep(0.1)
    raise RuntimeError("nothing listens on 127.0.0.1:%d after %.0f s" % (port, seconds))


class Slowloris:
    """`count` connections from `source` that each send a request line and then, every 4 s, one more
    header line, never ending the request (the slowloris attack); closed on exit. A connection the server
    refuses at once stays in `conns` (its answer is the caller's to read); one that cannot even connect is
    left out. `on_open` sees each connection as soon as it is open."""

    def __init__(
        self,
        port: int,
        count: int,
        path: str,
        source: str = "127.0.0.2",
        on_open: Callable[[socket.socket], None] = lambda conn: None,
    ) -> None:
        self.port, self.count, self.path, self.source, self.on_open = port, count, path, source, on_open
        self.conns: List[socket.socket] = []
        self._stop = threading.Event()
        self._talker = threading.Thread(target=self._dribble, daemon=True)

    def __enter__(self) -> "Slowloris":
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, self.count + 1024)), hard))
        for _ in range(self.count):
            conn = socket.socket()
            conn.bind((self.source, 0))
            conn.settimeout(10)
            try:
                conn.connect(("127.0.0.1", self.port))
            except OSError:
                conn.close()
                continue
            with contextlib.suppress(OSError):  # refused (a 503, closed) before it could even send
                conn.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n" % self.path.encode())
            self.conns.append(conn)
            self.on_open(conn)
        self._talker.start()
        return self

    def _dribble(self) -> None:
        n = 0
        while not self._stop.wait(4.0):
            n += 1
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.sendall(b"X-Slow-%d: y\r\n" % n)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._talker.join()
        for conn in self.conns:
            conn.close()


class Api:
    """A real nova-fping-api process on 127.0.0.1, in development (noauth) mode."""

    def __init__(self, tmp: Path, servers: list, fping: str = FPING, conf_text: str = "") -> None:
        self.inventory = tmp / "inventory.json"
        self.inventory.write_text(json.dumps({"servers": servers}))
        # counts fping processes, then runs the real fping with the same arguments
        self.calls = tmp / "fping-calls"
        self.calls.write_text("")
        wrapper = tmp / "fping-counting"
        # the fping it runs carry this API's mark in their environment: a test counts its own, none other
        self.mark = "NOVA_FPING_TEST_API=%s" % tmp
        wrapper.write_text('#!/bin/sh\necho "$*" >> %s\nexport %s\nexec %s "$@"\n' % (self.calls, self.mark, fping))
        wrapper.chmod(0o755)
        self.port = free_port()
        argv = [
            sys.executable,
            "-m",
            "nova_fping.cli",
            "--inventory",
            str(self.inventory),
            "--listen",
            "127.0.0.1:%d" % self.port,
            "--noauth",
            "--fping",
            str(wrapper),
        ]
        if conf_text:
            conf = tmp / "nova-fping.conf"
            conf.write_text(conf_text)
            argv += ["--config", str(conf)]
        self.log = open(tmp / "api.log", "w")  # noqa: SIM115 (the API's stderr while it runs)
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self.port
        try:
            wait_listening(self.port, self.proc)
        except RuntimeError as exc:
            raise RuntimeError("nova-fping-api: %s: %s" % (exc, (tmp / "api.log").read_text())) from None

    def fping_runs(self) -> int:
        return len(self.calls.read_text().splitlines())

    def get(self, path: str, project: str = "p1", roles: str = "member"):
        request = urllib.request.Request(self.url + path, headers={"X-Project-Id": project, "X-Roles": roles})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read()), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read()), dict(exc.headers)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def run_api(*argv: str, **options) -> subprocess.CompletedProcess:
    """nova-fping-api's command line, as an operator runs it (`options`: subprocess.run's, as cwd=)."""
    command = [sys.executable, "-m", "nova_fping.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, **options)


def one_error(run: subprocess.CompletedProcess) -> str:
    """The one `error:` line of a failed start (exit 1, no traceback)."""
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert run.returncode == 1, run.stderr
    assert len(errors) == 1, run.stderr
    assert "Traceback" not in run.stderr
    return errors[0]


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """`data` sent as it is on one connection; every byte of the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        chunks = []
        try:
            conn.sendall(data)
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except ConnectionResetError:  # the server answered and closed while we were still sending
            pass
    return b"".join(chunks)


def keystone_handler(
    validations: List[str], services: int = 0, project_of: Callable[[str], str] = lambda token: "p1"
) -> type:
    """FakeKeystoneV3: keystone's v3 as auth_token uses it, for http.server: version discovery (GET /), the
    service's password token (POST /v3/auth/tokens) and the validation of any user token (GET
    /v3/auth/tokens, X-Subject-Token, recorded in `validations`) as a member of `project_of(token)`, with
    `services` more services in its catalog (130 make a real cloud's ~40 KB)."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, code: int, body: object, headers: Tuple[Tuple[str, str], ...] = ()) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _base(self) -> str:
            address: tuple = self.server.server_address  # type: ignore[assignment]
            return "http://%s:%d/v3" % (str(address[0]), int(address[1]))

        def _token(self, user: str, project: str) -> dict:
            domain = {"id": "default", "name": "Default"}
            endpoints = lambda url: [  # noqa: E731 - one per interface
                {"id": i, "interface": i, "region": "RegionOne", "url": url} for i in ("public", "internal", "admin")
            ]
            catalog = [{"type": "identity", "id": "k", "name": "keystone", "endpoints": endpoints(self._base())}]
            catalog += [
                {
                    "type": "s%d" % n,
                    "id": "s%d" % n,
                    "name": "service %d" % n,
                    "endpoints": endpoints("https://service-%d.example:8%03d/v1" % (n, n)),
                }
                for n in range(services)
            ]
            return {
                "token": {
                    "methods": ["password"],
                    "expires_at": "2099-01-01T00:00:00.000000Z",
                    "issued_at": "2026-01-01T00:00:00.000000Z",
                    "user": {"id": user, "name": user, "domain": domain},
                    "project": {"id": project, "name": project, "domain": domain},
                    "roles": [{"id": "r1", "name": "member"}],
                    "catalog": catalog,
                }
            }

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.rstrip("/")
            if path in ("", "/v3"):
                base = self._base() + "/"
                version = {"id": "v3.14", "status": "stable", "links": [{"rel": "self", "href": base}]}
                self._send(200, {"versions": {"values": [version]}} if path == "" else {"version": version})
                return
            token = self.headers["X-Subject-Token"]
            validations.append(token)
            self._send(200, self._token("u-" + token[-16:], project_of(token)))

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self._send(201, self._token("nova-fping", "service"), (("X-Subject-Token", "service-token"),))

        def log_message(self, *args: object) -> None:
            pass

    return Handler
