"""500 concurrent os-fping calls from distinct projects (an alive and a dead instance each), against
nova-fping-api (waitress, bounded fping) and, as the named peer, the same application under Python's
wsgiref threading server, which nova-fping-api used before (listen backlog 5, no bound on fping).
Reports answered calls, connection errors, p50/p99 latency of the answers and throughput."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from bench_fping import namespace_hosts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src" / "nova-fping" / "tests"))
from nova_fping_testing import Slowloris, free_port, wait_listening  # noqa: E402

CLIENTS = 500

WSGIREF = """
import socketserver, sys
from wsgiref import simple_server
from nova_fping import config
from nova_fping.api import RateLimit
from nova_fping.wsgi import NoAuthMiddleware
conf = config.load([sys.argv[1]])
config.apply_overrides(conf, None, sys.argv[2] or None)
class Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
class Quiet(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass
app = NoAuthMiddleware(RateLimit(config.build_app(conf), config.build_limiter(conf)))
simple_server.make_server("127.0.0.1", int(sys.argv[3]), app, server_class=Server, handler_class=Quiet).serve_forever()
"""


def start(
    kind: str, tmp: Path, addresses: list[str], nova: str | None = None, per_address: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """The API with a static inventory of `addresses`, or with `nova` (a URL) as its Nova."""
    inventory = tmp / "inventory.json"
    inventory.write_text(
        json.dumps({"servers": [{"id": str(uuid.uuid4()), "project_id": "p0", "addresses": [a]} for a in addresses]})
    )
    conf = tmp / "nova-fping.conf"
    # the bursts' clients all come from 127.0.0.1 here, as from a proxy: no per-address bound for them
    # (the slowloris case keeps the shipped one: its attacker and its clients have addresses of their own)
    text = "[rate_limit]\ncalls = 12\n" + ("" if per_address else "[DEFAULT]\nmax_connections_per_address = 0\n")
    if nova:  # keystoneauth's "none" plugin: the Nova double asks for no token
        text += f"[nova]\nauth_type = none\nendpoint_override = {nova}\n"
    conf.write_text(text)
    port = free_port()
    static = [] if nova else ["--inventory", str(inventory)]
    if kind == "waitress":
        argv = [
            sys.executable,
            "-m",
            "nova_fping.cli",
            "--config-file",
            str(conf),
            *static,
            "--listen",
            f"127.0.0.1:{port}",
            "--noauth",
        ]
    else:
        argv = [sys.executable, "-c", WSGIREF, str(conf), "" if nova else str(inventory), str(port)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc)
    return proc, f"http://127.0.0.1:{port}"


class SlowNova(http.server.BaseHTTPRequestHandler):
    """Nova's GET /servers/detail, answering after `delay` seconds."""

    delay = 5.0
    servers: list[dict[str, object]] = []

    def do_GET(self) -> None:  # noqa: N802
        time.sleep(SlowNova.delay)
        body = json.dumps({"servers": SlowNova.servers}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def burst(url: str, clients: int = CLIENTS) -> dict[str, float]:
    latencies: list[float] = []
    statuses: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        request = urllib.request.Request(
            f"{url}/v2/p{i}/os-fping?all_tenants=1", headers={"X-Project-Id": f"p{i}", "X-Roles": "admin"}
        )
        began = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            with lock:
                errors.append(type(exc).__name__)
            return
        with lock:
            latencies.append(time.monotonic() - began)
            statuses.append(status)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    latencies.sort()
    answered = len(latencies)
    pick = lambda q: latencies[min(answered - 1, int(q * answered))] if answered else float("nan")  # noqa: E731
    return {
        "answered": answered,
        "ok": statuses.count(200),
        "busy": statuses.count(503),
        "errors": len(errors),
        "p50": pick(0.50),
        "p99": pick(0.99),
        "wall": wall,
        "per_s": answered / wall,
    }


def slowloris_beside_clients(url: str, port: int, attackers: int = 1000, clients: int = 20) -> dict[str, float]:
    """`attackers` connections from 127.0.0.2 that send a header line every 4 s, then `clients` real calls
    from 127.0.0.1 at once: how long the real ones take."""
    times: list[float] = []
    ok: list[bool] = []

    def call(i: int) -> None:
        request = urllib.request.Request(f"{url}/v2/p{i}/os-fping", headers={"X-Project-Id": f"p{i}"})
        began = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                ok.append(response.status == 200)
        except OSError:
            ok.append(False)
        times.append(time.monotonic() - began)

    with Slowloris(port, attackers, "/v2/p0/os-fping"):
        time.sleep(1.0)
        threads = [threading.Thread(target=call, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return {"ok": sum(ok), "clients": clients, "max": max(times), "p50": sorted(times)[len(times) // 2]}


def main() -> list[tuple[str, dict[str, float]]]:
    if os.geteuid() != 0:
        raise SystemExit("bench load: needs root (network namespaces)")
    print(f"\n{CLIENTS} concurrent os-fping calls (distinct projects; one alive, one dead instance each)")
    print(f"{'server':>26} {'answered':>9} {'200':>5} {'503':>5} {'errors':>7} {'p50':>8} {'p99':>8} {'calls/s':>8}")
    rows: list[tuple[str, dict[str, float]]] = []
    with namespace_hosts(2) as addresses:
        for kind, label in (("waitress", "nova-fping-api (waitress)"), ("wsgiref", "wsgiref, same app")):
            with tempfile.TemporaryDirectory() as tmp:
                proc, url = start(kind, Path(tmp), addresses)
                try:
                    r = burst(url)
                finally:
                    proc.terminate()
                    proc.wait()
            rows.append((label, r))
            print(
                f"{label:>26} {r['answered']:>9} {r['ok']:>5} {r['busy']:>5} {r['errors']:>7} "
                f"{r['p50']:>7.2f}s {r['p99']:>7.2f}s {r['per_s']:>8.1f}"
            )
        print("\n1,000 slowloris connections from one address beside 20 real clients (shipped limits)")
        print(f"{'server':>26} {'answered 200':>13} {'p50':>8} {'slowest':>8}")
        for kind, label in (("waitress", "nova-fping-api (waitress)"), ("wsgiref", "wsgiref, same app")):
            with tempfile.TemporaryDirectory() as tmp:
                proc, url = start(kind, Path(tmp), addresses, per_address=True)
                try:
                    s = slowloris_beside_clients(url, int(url.rsplit(":", 1)[1]))
                finally:
                    proc.terminate()
                    proc.wait()
            rows.append((f"{label}, slowloris", s))
            print(f"{label:>26} {s['ok']:>6} of {s['clients']:<4} {s['p50']:>7.2f}s {s['max']:>7.2f}s")
        rows += slow_nova(addresses)
    return rows


def slow_nova(addresses: list[str], clients: int = 300) -> list[tuple[str, dict[str, float]]]:
    SlowNova.servers = [
        {"id": str(uuid.uuid4()), "tenant_id": "p0", "addresses": {"net": [{"addr": a, "version": 4}]}}
        for a in addresses
    ]
    nova = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowNova)
    nova.daemon_threads = True
    threading.Thread(target=nova.serve_forever, daemon=True).start()
    print(f"\n{clients} concurrent calls, Nova answering each listing after {SlowNova.delay:.0f} s")
    print(f"{'server':>26} {'answered':>9} {'200':>5} {'503':>5} {'errors':>7} {'p50':>8} {'p99':>8} {'calls/s':>8}")
    rows: list[tuple[str, dict[str, float]]] = []
    try:
        for kind, label in (("waitress", "nova-fping-api (waitress)"), ("wsgiref", "wsgiref, same app")):
            with tempfile.TemporaryDirectory() as tmp:
                proc, url = start(kind, Path(tmp), addresses, nova=f"http://127.0.0.1:{nova.server_address[1]}")
                try:
                    r = burst(url, clients)
                finally:
                    proc.terminate()
                    proc.wait()
            rows.append((f"{label}, slow Nova", r))
            print(
                f"{label:>26} {r['answered']:>9} {r['ok']:>5} {r['busy']:>5} {r['errors']:>7} "
                f"{r['p50']:>7.2f}s {r['p99']:>7.2f}s {r['per_s']:>8.1f}"
            )
    finally:
        nova.shutdown()
        nova.server_close()
    return rows


if __name__ == "__main__":
    main()
