"""A soak of nova-fping-api: `bench/run.py soak [MINUTES]` (10 unless given). 1,500 connections are held
open all along (each dropped one is opened again), a third of Nova's listings drip one byte every 2 s, and
eight clients send mixed traffic: listings and unknown servers, each with a fresh token that a keystone of
the bench validates (a catalog of 130 services, ~50 KB), tokenless calls, garbage request lines and oversized
bodies; keystonemiddleware in front, as in production. Every 10 s: the answers of that window, the slowest
answer that needs no listing (400, 401, 413), the process's RSS, descriptors and threads. The result: whether the
API answered in every window, the slope of RSS (least squares after the first minute) and the range of
descriptors and threads."""

from __future__ import annotations

import http.server
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src" / "nova-fping" / "tests"))
from nova_fping_testing import free_port, keystone_handler, wait_listening  # noqa: E402

HELD = 1500
CLIENTS = 8
WINDOW = 10.0


class DripNova(http.server.BaseHTTPRequestHandler):
    """Nova's GET /servers/detail: every third listing drips one byte every 2 s, the others answer."""

    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()
    servers: list[dict[str, object]] = []

    def do_GET(self) -> None:  # noqa: N802
        with DripNova.lock:
            DripNova.count += 1
            drip = DripNova.count % 3 == 0
        body = json.dumps({"servers": DripNova.servers}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) if not drip else 10_000_000))
        self.end_headers()
        try:
            if not drip:
                self.wfile.write(body)
                return
            while True:
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(2.0)
        except OSError:
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def _process(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


class Holder(threading.Thread):
    """Keeps `count` connections open: each one the server drops is opened again."""

    def __init__(self, port: int, count: int) -> None:
        super().__init__(daemon=True)
        self.port, self.count = port, count
        self.stop = threading.Event()
        self.reopened = 0

    def run(self) -> None:
        held: list[socket.socket] = []
        while not self.stop.is_set():
            alive = []
            for conn in held:
                try:
                    gone = conn.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
                except BlockingIOError:
                    gone = False
                except OSError:
                    gone = True
                if gone:
                    conn.close()
                    self.reopened += 1
                else:
                    alive.append(conn)
            held = alive
            while len(held) < self.count and not self.stop.is_set():
                try:
                    held.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))
                except OSError:
                    break
            self.stop.wait(1.0)
        for conn in held:
            conn.close()


def _raw(port: int, data: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(data)
        head = conn.recv(64)
    return int(head.split()[1]) if head.startswith(b"HTTP/") else 0


class Traffic:
    """Mixed calls by `CLIENTS` threads; answers and errors counted per window. Worker 0 and 1 send only the
    calls that need no listing (tokenless, garbage, oversized, an unknown server's 404 needs one): the
    others spend up to request_timeout on a dripping listing each, and their answers come in bursts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.lock = threading.Lock()
        self.answers: dict[int, int] = {}
        self.errors = 0
        self.slowest_cheap = 0.0
        self.stop = threading.Event()

    def take(self) -> tuple[dict[int, int], int, float]:
        with self.lock:
            taken = (self.answers, self.errors, self.slowest_cheap)
            self.answers, self.errors, self.slowest_cheap = {}, 0, 0.0
        return taken

    def _one(self, n: int) -> None:
        project = f"p{n % 50}"
        token = f"{project}-{uuid.uuid4()}".encode()  # fresh: validated by keystone, kept in the token cache
        requests = [
            b"GET /v2/%s/os-fping HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + token + b"\r\nConnection: close\r\n\r\n",
            b"GET /v2/%s/os-fping/"
            + str(uuid.uuid4()).encode()
            + b" HTTP/1.1\r\nHost: x\r\nX-Auth-Token: "
            + token
            + b"\r\nConnection: close\r\n\r\n",
            b"GET /v2/%s/os-fping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n%s",
            b"GARBAGE %s %s\r\n\r\n",
            b"POST /v2/%s/os-fping HTTP/1.1\r\nHost: x\r\nX-Project-Id: %s\r\nContent-Length: 9999999\r\n\r\n",
        ]
        template = requests[2 + n % 3] if n % CLIENTS < 2 else requests[n % 2]
        data = template.replace(b"%s", project.encode()) if b"%s" in template else template
        began = time.monotonic()
        try:
            status = _raw(self.port, data)
        except OSError:
            with self.lock:
                self.errors += 1
            return
        took = time.monotonic() - began
        with self.lock:
            self.answers[status] = self.answers.get(status, 0) + 1
            if status in (400, 401, 413):
                self.slowest_cheap = max(self.slowest_cheap, took)

    def run(self, worker: int) -> None:
        n = worker
        while not self.stop.is_set():
            self._one(n)
            n += CLIENTS


def _slope(samples: list[tuple[float, float]]) -> float:
    """Least squares: units of y per minute of x (seconds)."""
    count = len(samples)
    if count < 2:
        return float("nan")
    mean_x = sum(x for x, _ in samples) / count
    mean_y = sum(y for _, y in samples) / count
    num = sum((x - mean_x) * (y - mean_y) for x, y in samples)
    den = sum((x - mean_x) ** 2 for x, _ in samples)
    return 60.0 * num / den if den else float("nan")


def _start(tmp: Path, nova_url: str, keystone_url: str, port: int) -> subprocess.Popen[bytes]:
    paste = tmp / "api-paste.ini"
    shipped = Path(__file__).resolve().parent.parent / "src" / "nova-fping" / "etc" / "api-paste.ini"
    paste.write_text(shipped.read_text().replace("http://keystone.internal:5000", keystone_url))
    conf = tmp / "nova-fping.conf"
    conf.write_text(
        f"[DEFAULT]\nmax_connections = 2000\nmax_connections_per_address = 0\npaste_config = {paste}\n"
        "[fping]\nrequest_timeout = 20\n[rate_limit]\ncalls = 0\n"
        f"[nova]\nauth_type = none\nendpoint_override = {nova_url}\ntimeout = 10\n"
    )

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))

    argv = [
        sys.executable,
        "-m",
        "nova_fping.cli",
        "--config-file",
        str(conf),
        "--listen",
        f"127.0.0.1:{port}",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=limits)  # noqa: PLW1509
    wait_listening(port, proc)
    return proc


def main(minutes: float | None = None) -> dict[str, float]:
    if minutes is None:
        minutes = float(os.environ.get("SOAK_MINUTES", "10"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    DripNova.servers = [
        {"id": str(uuid.uuid4()), "tenant_id": f"p{i}", "addresses": {"net": [{"addr": "127.0.0.1", "version": 4}]}}
        for i in range(50)
    ]
    nova = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DripNova)
    nova.daemon_threads = True
    threading.Thread(target=nova.serve_forever, daemon=True).start()
    validated: list[str] = []  # a large cloud's catalog (~50 KB); a token "pN-..." is one of project pN
    handler = keystone_handler(validated, services=130, project_of=lambda token: token.split("-", 1)[0])
    keystone = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    keystone.daemon_threads = True
    threading.Thread(target=keystone.serve_forever, daemon=True).start()
    port = free_port()
    print(
        f"\nsoak of {minutes:g} min: {HELD} connections held, a dripping Nova (1 in 3), {CLIENTS} mixed clients, "
        "a fresh token for every call (keystonemiddleware, ~50 KB catalogs)"
    )
    print(f"{'min':>5} {'answers':>8} {'errors':>7} {'slowest cheap':>14} {'RSS MiB':>8} {'fds':>5} {'threads':>8}")
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        keystone_url = f"http://127.0.0.1:{keystone.server_address[1]}"
        proc = _start(Path(tmp), f"http://127.0.0.1:{nova.server_address[1]}", keystone_url, port)
        holder, traffic = Holder(port, HELD), Traffic(port)
        holder.start()
        workers = [threading.Thread(target=traffic.run, args=(i,), daemon=True) for i in range(CLIENTS)]
        for worker in workers:
            worker.start()
        began = time.monotonic()
        try:
            while time.monotonic() - began < minutes * 60 and proc.poll() is None:
                time.sleep(WINDOW)
                answers, errors, slowest = traffic.take()
                sample = {
                    "t": time.monotonic() - began,
                    "answers": sum(answers.values()),
                    "errors": errors,
                    "slowest_cheap": slowest,
                    **_process(proc.pid),
                }
                samples.append(sample)
                statuses = dict(sorted(answers.items()))
                print(
                    f"{sample['t'] / 60:>5.1f} {sample['answers']:>8} {errors:>7} {slowest:>13.2f}s "
                    f"{sample['rss_mib']:>8.1f} {sample['fds']:>5} {sample['threads']:>8}  {statuses}"
                )
        finally:
            traffic.stop.set()
            holder.stop.set()
            alive = proc.poll() is None
            proc.terminate()
            proc.wait(60)
            nova.shutdown()
            nova.server_close()
            keystone.shutdown()
            keystone.server_close()
    settled = [s for s in samples if s["t"] >= 60.0]
    result = {
        "alive_to_the_end": float(alive),
        "windows_without_answers": float(sum(1 for s in samples if s["answers"] == 0)),
        "slowest_cheap_answer_s": max((s["slowest_cheap"] for s in samples), default=float("nan")),
        "rss_slope_mib_per_min": _slope([(s["t"], s["rss_mib"]) for s in settled]),
        "rss_first": settled[0]["rss_mib"] if settled else float("nan"),
        "rss_last": settled[-1]["rss_mib"] if settled else float("nan"),
        "fds_min": min(s["fds"] for s in settled) if settled else float("nan"),
        "fds_max": max(s["fds"] for s in settled) if settled else float("nan"),
        "threads_min": min(s["threads"] for s in settled) if settled else float("nan"),
        "threads_max": max(s["threads"] for s in settled) if settled else float("nan"),
        "connections_reopened": float(holder.reopened),
        "tokens_validated": float(len(validated)),
    }
    print("result: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()))
    return result
