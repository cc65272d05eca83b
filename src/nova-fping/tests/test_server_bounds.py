"""The real nova-fping-api process against what the third probe (issue 39) sent it: descriptors above 1024,
a client that half-closes, a burst beyond the worker threads, connections beyond the per-address bound,
and control characters in a path. Every load stays on 127.0.0.1, bounded in count and time."""

import socket
import threading
import time
import uuid
from pathlib import Path

from nova_fping_testing import Slowloris, raw_request

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


def test_a_call_beyond_the_threads_and_the_queue_is_refused_by_the_event_loop():
    """The 503s of a 1,000 burst waited in waitress's queue (p50 2.65 s, 904 "Task queue depth" warnings)
    to be refused by a worker. Beyond the threads and max_queued, the event loop answers at once: the hook's
    decision, with the dispatcher in each state a burst can leave it in (how many of a real burst are
    refused depends on the machine's load: bench/bench_load.py measures that)."""
    from types import SimpleNamespace

    from nova_fping import server as server_module

    dispatcher = SimpleNamespace(lock=threading.Lock(), threads=[1, 2, 3, 4], stop_count=0, active_count=0, queue=[])
    enqueued: list = []
    fake = SimpleNamespace(task_dispatcher=dispatcher, add_task=enqueued.append)
    server_module._Server.install(fake, max_queued=2)
    refused: list = []

    class Channel(server_module._Channel):
        def __init__(self) -> None:  # no socket: only the hook's decision is looked at
            pass

        def refuse_busy(self) -> None:
            refused.append(self)

    def state(active: int, queued: int) -> None:
        dispatcher.active_count, dispatcher.queue = active, [object()] * queued

    for active, queued, taken in [(0, 0, True), (3, 0, True), (4, 0, True), (4, 1, True), (4, 2, False), (4, 9, False)]:
        state(active, queued)
        before = (len(enqueued), len(refused))
        fake.add_task(Channel())
        assert (len(enqueued) - before[0], len(refused) - before[1]) == ((1, 0) if taken else (0, 1)), (active, queued)
    # a channel that is not the server's own (waitress's trigger, say) is always queued
    state(4, 9)
    fake.add_task("not a channel")
    assert enqueued[-1] == "not a channel"


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


def test_a_request_line_over_the_limit_is_answered_as_http_1_1(start_api):
    """waitress parses a stand-in `GET / HTTP/1.0` for a head over the limit: the 431 went out as HTTP/1.0
    to an HTTP/1.1 client whose request line alone was over the limit (its version never read)."""
    api = start_api([])
    long_line = raw_request(api.port, b"GET /v2/p1/os-fping?x=" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert long_line.startswith(b"HTTP/1.1 431 "), long_line[:80]
    old = raw_request(api.port, b"GET /v2/p1/os-fping HTTP/1.0\r\nX-Big: " + b"b" * 40000 + b"\r\n\r\n")
    assert old.startswith(b"HTTP/1.0 431 "), old[:80]  # a client that said HTTP/1.0 is answered so


def test_a_chunk_announced_over_the_body_limit_is_refused_when_its_size_arrives(start_api):
    """A chunk size far over max_body_size was not refused until its bytes had come (never, for a client
    that announces 1 GB and sends slowly)."""
    api = start_api([])
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as conn:
        conn.sendall(
            b"GET /v2/p1/os-fping HTTP/1.1\r\nHost: x\r\nX-Project-Id: p1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"40000000\r\n" + b"x" * 100
        )
        answer = conn.recv(65536)  # before any more of the announced 1 GiB
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:80]


def test_a_tokenless_request_is_answered_by_threads_of_its_own():
    """A request without a token waited behind every worker held by Nova or keystone for its 401: under
    keystone it goes to two threads apart (the hook's decision; the pipeline answers it there)."""
    from types import SimpleNamespace

    from nova_fping import server as server_module

    dispatcher = SimpleNamespace(lock=threading.Lock(), threads=[1], stop_count=0, active_count=1, queue=[1, 2, 3])
    enqueued: list = []
    fake = SimpleNamespace(task_dispatcher=dispatcher, add_task=enqueued.append)
    server_module._Server.install(fake, max_queued=100, tokenless_apart=True)
    apart: list = []
    fake.tokenless_dispatcher.add_task = apart.append

    class Channel(server_module._Channel):
        def __init__(self, headers: dict) -> None:  # no socket: only the hook's decision is looked at
            self.requests = [SimpleNamespace(headers=headers, error=None)]

    tokenless, with_token = Channel({"HOST": "x"}), Channel({"X_AUTH_TOKEN": "t"})
    fake.add_task(tokenless)
    fake.add_task(with_token)
    assert apart == [tokenless]
    assert enqueued == [with_token]
    assert tokenless.queued_at > 0
    assert with_token.queued_at > 0
    fake.tokenless_dispatcher.shutdown()
