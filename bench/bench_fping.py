"""One os-fping API call over N servers against a bare fping over the same addresses, in the same run.
N = 10, 100, 1000; the addresses live in two network namespaces made here, half of them dead (their
interface down). Needs root, like the tests. Nothing outside these namespaces is pinged."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import Timing, median_time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src" / "nova-fping" / "tests"))
from nova_fping_testing import wait_listening  # noqa: E402

FPING_ARGS = ["-t", "500", "-r", "1", "-B1"]  # what nova-fping passes with its default config
TAG = f"nfb{os.getpid() % 10000}"


def ip(*args: str, batch: str | None = None) -> None:
    subprocess.run(["ip", *args], input=batch, text=True, check=True, capture_output=True)


def make_hosts(n: int) -> list[str]:
    """n addresses in 198.19.0.0/16: the first half answers, the second half sits behind a down link."""
    addresses = []
    for half, (alive, second_octet) in enumerate(((True, 0), (False, 128))):
        ns, host_if, inner_if = f"{TAG}{half}", f"{TAG}h{half}", f"{TAG}i{half}"
        ip("netns", "add", ns)
        ip("link", "add", host_if, "type", "veth", "peer", "name", inner_if)
        ip("link", "set", inner_if, "netns", ns)
        ip("addr", "add", f"198.19.{second_octet}.1/17", "dev", host_if)
        ip("link", "set", host_if, "up")
        mine = [f"198.19.{second_octet + (i + 2) // 256}.{(i + 2) % 256}" for i in range(n // 2)]
        ip("-n", ns, "-batch", "-", batch="".join(f"addr add {a}/17 dev {inner_if}\n" for a in mine))
        ip("-n", ns, "link", "set", inner_if, "up" if alive else "down")
        addresses += mine
    return addresses


def remove_hosts() -> None:
    for half in (0, 1):
        subprocess.run(["ip", "netns", "del", f"{TAG}{half}"], capture_output=True)
        subprocess.run(["ip", "link", "del", f"{TAG}h{half}"], capture_output=True)


@contextmanager
def namespace_hosts(n: int) -> Iterator[list[str]]:
    """n namespace hosts (half alive) behind an `unreachable` route for their range, removed afterwards."""
    subprocess.run(["ip", "route", "add", "unreachable", "198.19.0.0/16"], capture_output=True)
    try:
        remove_hosts()
        yield make_hosts(n)
    finally:
        remove_hosts()
        subprocess.run(["ip", "route", "del", "unreachable", "198.19.0.0/16"], capture_output=True)


def start_api(tmp: Path, addresses: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    inventory = tmp / "inventory.json"
    servers = [{"id": str(uuid.uuid4()), "project_id": "bench", "addresses": [a]} for a in addresses]
    inventory.write_text(json.dumps({"servers": servers}))
    conf = tmp / "nova-fping.conf"
    conf.write_text("[rate_limit]\ncalls = 0\n")  # 0: no limit, for the benchmark only
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nova_fping.cli",
            "--config",
            str(conf),
            "--inventory",
            str(inventory),
            "--listen",
            f"127.0.0.1:{port}",
            "--noauth",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_listening(port, proc)
    return proc, f"http://127.0.0.1:{port}/v2/bench/os-fping"


def main() -> list[Timing]:
    if os.geteuid() != 0:
        raise SystemExit("bench fping: needs root (network namespaces)")
    rows: list[Timing] = []
    print("\nos-fping API call vs bare fping over the same addresses (half dead), median")
    print(f"{'N':>6} {'API call':>12} {'bare fping':>12} {'ratio':>8}")
    for n, repeats in ((10, 5), (100, 3), (1000, 3)):
        with namespace_hosts(n) as addresses:
            with tempfile.TemporaryDirectory() as tmp:
                proc, url = start_api(Path(tmp), addresses)
                try:
                    request = urllib.request.Request(url, headers={"X-Project-Id": "bench"})

                    def call(req: urllib.request.Request = request, expected: int = n) -> None:
                        with urllib.request.urlopen(req, timeout=600) as response:
                            body = json.loads(response.read())
                        assert len(body["servers"]) == expected
                        assert sum(s["alive"] for s in body["servers"]) == expected // 2

                    api = median_time(f"api N={n}", call, repeats)

                    def bare_fping(targets: list[str] = addresses) -> None:
                        done = subprocess.run(["fping", *FPING_ARGS, *targets], capture_output=True, text=True)
                        assert done.returncode == 1
                        assert done.stdout.count(" is alive") == len(targets) // 2

                    bare = median_time(f"fping N={n}", bare_fping, repeats)
                finally:
                    proc.terminate()
                    proc.wait()
            rows += [api, bare]
            ratio = api.seconds / bare.seconds
            print(f"{n:>6} {api.seconds * 1000:>9.0f} ms {bare.seconds * 1000:>9.0f} ms {ratio:>7.2f}x")
    return rows


if __name__ == "__main__":
    main()
