"""500 concurrent os-fping calls from distinct projects (an alive and a dead instance each), against
nova-fping-api (waitress, bounded fping) and, as the named peer, the same application under Python's
wsgiref threading server, which nova-fping-api used before (listen backlog 5, no bound on fping).
Reports answered calls, connection errors, p50/p99 latency of the answers and throughput."""

from __future__ import annotations

import json
import os
import socket
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

CLIENTS = 500

WSGIREF = """
import socketserver, sys
from wsgiref import simple_server
from nova_fping import config
from nova_fping.wsgi import NoAuthMiddleware
conf = config.load(sys.argv[1])
config.apply_overrides(conf, None, sys.argv[2])
class Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
class Quiet(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass
app = NoAuthMiddleware(config.build_app(conf))
simple_server.make_server("127.0.0.1", int(sys.argv[3]), app, server_class=Server, handler_class=Quiet).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(kind: str, tmp: Path, addresses: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    inventory = tmp / "inventory.json"
    inventory.write_text(json.dumps({"servers": [
        {"id": str(uuid.uuid4()), "project_id": "p0", "addresses": [a]} for a in addresses]}))  # fmt: skip
    conf = tmp / "nova-fping.conf"
    conf.write_text("[rate_limit]\ncalls = 12\n")
    port = free_port()
    if kind == "waitress":
        argv = [sys.executable, "-m", "nova_fping.cli", "--config", str(conf), "--inventory", str(inventory),
                "--listen", f"127.0.0.1:{port}", "--noauth"]  # fmt: skip
    else:
        argv = [sys.executable, "-c", WSGIREF, str(conf), str(inventory), str(port)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def burst(url: str) -> dict[str, float]:
    latencies: list[float] = []
    statuses: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        request = urllib.request.Request(f"{url}/v2/p{i}/os-fping?all_tenants=1",
                                         headers={"X-Project-Id": f"p{i}", "X-Roles": "admin"})  # fmt: skip
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

    threads = [threading.Thread(target=call, args=(i,)) for i in range(CLIENTS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    latencies.sort()
    answered = len(latencies)
    pick = lambda q: latencies[min(answered - 1, int(q * answered))] if answered else float("nan")  # noqa: E731
    return {"answered": answered, "ok": statuses.count(200), "busy": statuses.count(503), "errors": len(errors),
            "p50": pick(0.50), "p99": pick(0.99), "wall": wall, "per_s": answered / wall}  # fmt: skip


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
            print(f"{label:>26} {r['answered']:>9} {r['ok']:>5} {r['busy']:>5} {r['errors']:>7} "
                  f"{r['p50']:>7.2f}s {r['p99']:>7.2f}s {r['per_s']:>8.1f}")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
