"""The real nova-fping-api process against what the third probe (issue 39) sent it: descriptors above 1024,
a client that half-closes, a burst beyond the worker threads, connections beyond the per-address bound,
and control characters in a path. Every load stays on 127.0.0.1, bounded in count and time."""

import socket
import threading
import time
import uuid
from pathlib import Path
from typing import List, Tuple

from nova_fping_testing import Slowloris

A = str(uuid.UUID(int=201))


def _request(port: int, path: str, half_close: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nX-Project-Id: p1\r\n\r\n" % path.encode())
        if half_close:
            conn.shutdown(socket.SHUT_WR)  # the request is sent: nothing more comes from this side
        chunks: "list[bytes]" = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def test_descriptors_above_1024_do_not_end_the_service(start_api, instances):
    """waitress ran on select(): with 1,100 connections held (behind a proxy, max_connections_per_address
    = 0), the first descriptor above 1024 ended the process. It runs on poll()."""
    up = instances()
    conf = "[DEFAULT]\nmax_connections = 1500\nmax_connections_per_address = 0\n[rate_limit]\ncalls = 0\n"
    api = start_api([{"id": A, "project_id": "p1", "addresses": up.addresses}], conf_text=conf)
    with Slowloris(api.port, 1100, "/v2/p1/os-fping") as held:
        assert len(held.conns) == 1100
        time.sleep(0.5)
        status, body, _ = api.get("/v2/p1/os-fping")
        assert status == 200
        assert body["servers"][0]["alive"] is True
        assert api.proc.poll() is None
    assert "filedescriptor out of range" not in Path(api.log.name).read_text()


def test_a_client_that_half_closes_is_answered_and_its_call_counts(start_api, instances):
    """A client that sends its request and shuts down its side (`nc -N`, some proxies) got no answer, and
    its fping was not counted against the rate limit."""
    up = instances()
    api = start_api([{"id": A, "project_id": "p1", "addresses": up.addresses}], conf_text="[rate_limit]\ncalls = 1\n")
    answer = _request(api.port, "/v2/p1/os-fping", half_close=True)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b'"alive": true' in answer, answer[:300]
    assert api.get("/v2/p1/os-fping")[0] == 413  # the one call of the period was that one


def test_a_burst_beyond_the_threads_is_refused_at_once_by_the_event_loop(start_api, instances):
    """The 503s of a 1,000 burst waited in waitress's queue (p50 2.65 s, 904 "Task queue depth" warnings)
    to be refused by a worker. Beyond the threads and max_queued, the event loop answers at once."""
    down = instances()
    down.down()  # fping takes its timeout: the workers are busy
    conf = (
        "[DEFAULT]\nthreads = 4\nmax_queued = 2\n[fping]\nmax_concurrent = 1\nmax_waiting = 2\n"
        "timeout_ms = 1000\nretries = 0\n[rate_limit]\ncalls = 0\n"
    )
    api = start_api([{"id": A, "project_id": "p1", "addresses": down.addresses}], conf_text=conf)
    results: List[Tuple[bytes, float]] = []
    lock = threading.Lock()

    def call() -> None:
        began = time.monotonic()
        answer = _request(api.port, "/v2/p1/os-fping")
        with lock:
            results.append((answer, time.monotonic() - began))

    threads = [threading.Thread(target=call) for _ in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    busy = [took for answer, took in results if b"The server is busy" in answer]
    assert len(results) == 60, [a[:60] for a, _ in results]
    assert len(busy) >= 30, [a[:60] for a, _ in results]
    assert all(answer.split(b" ", 2)[1] in (b"200", b"503") for answer, _ in results)
    assert sorted(busy)[len(busy) // 2] < 0.5  # at once, not after the busy workers
    assert "Task queue depth" not in Path(api.log.name).read_text()


def test_connections_beyond_the_per_address_bound_get_a_503_not_a_reset(start_api):
    """A refusal by the per-address bound was often a TCP reset: the request the client had sent was unread
    when the connection closed. The refusal now reads it and shuts its side down before it closes."""
    conf = "[DEFAULT]\nmax_connections_per_address = 5\n[rate_limit]\ncalls = 0\n"
    api = start_api([], conf_text=conf)
    held = []
    for _ in range(5):
        conn = socket.create_connection(("127.0.0.1", api.port), timeout=10)
        conn.sendall(b"GET /v2/p1/os-fping HTTP/1.1\r\nHost: x\r\n")  # never ends its request
        held.append(conn)
    try:
        answers = []
        for _ in range(50):
            try:
                answers.append(_request(api.port, "/v2/p1/os-fping"))
            except ConnectionResetError:
                answers.append(b"reset")
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503 ") and b"Too many connections" in a]
        assert len(refused) >= 45, [a[:40] for a in answers]
    finally:
        for conn in held:
            conn.close()


def test_a_path_with_newlines_or_escapes_writes_no_line_of_its_own(start_api):
    """An unauthenticated path with %0a, ESC or CR wrote forged lines into the request log."""
    api = start_api([])
    forged = "/v2/p1%0a2026-01-01%20INFO%20nova-fping%20forged%1b[31m%0d"
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as conn:
        conn.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % forged.encode())
        conn.recv(65536)
    api.proc.terminate()  # its log is a file: what it buffered is written when it ends
    api.proc.wait(timeout=30)
    log = Path(api.log.name).read_text()
    assert "forged" in log
    assert "\x1b" not in log
    forged_lines = [line for line in log.splitlines() if line.startswith("2026-01-01 INFO nova-fping forged")]
    assert forged_lines == []
    assert "\\x0a2026-01-01 INFO nova-fping forged\\x1b[31m\\x0d" in log
