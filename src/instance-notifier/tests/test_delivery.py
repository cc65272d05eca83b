"""The fourth probe of the notifier (issue 54): a webhook or an SMTP server that answers byte by byte, a
webhook that redirects, an outbox that grows without bound, a state too large to load again, a SIGHUP
during a slow delivery. Real sockets on 127.0.0.1 play the peers; the daemon's loop is the real one."""

import contextlib
import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import List

import pytest

from instance_notifier import state as state_module
from instance_notifier.channels import EmailChannel, LogChannel, Outbox, WebhookChannel
from instance_notifier.daemon import Daemon
from instance_notifier.state import Event, Observation, StateBook

EVENT = Event("srv-1", "p1", "dead", "alive", "2026-12-07T00:00:00Z")


class Peer(object):
    """A TCP server on 127.0.0.1 that runs `behave(connection)` for each connection, in a thread."""

    def __init__(self, behave) -> None:
        self.behave = behave
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.requests: List[bytes] = []
        self.closing = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closing.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(connection,), daemon=True).start()

    def _one(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):  # the client hung up
            self.behave(self, connection)

    def read_request(self, connection: socket.socket) -> bytes:
        data = b""
        connection.settimeout(5)
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(ln.split(b":")[1]) for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")), 0
        )
        while len(body) < length:
            body += connection.recv(65536)
        self.requests.append(head + b"\r\n\r\n" + body)
        return head

    def close(self) -> None:
        self.closing.set()
        self.listener.close()


def drip(peer: Peer, connection: socket.socket, first: bytes = b"") -> None:
    """One byte every 0.2 s, for ever: every read of the client ends well within its socket timeout."""
    for byte in first or b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
        if peer.closing.is_set():
            return
        connection.sendall(bytes([byte]))
        time.sleep(0.2)


@pytest.fixture
def peers():
    started: List[Peer] = []

    def start(behave) -> Peer:
        started.append(Peer(behave))
        return started[-1]

    yield start
    for peer in started:
        peer.close()


def test_a_webhook_answering_byte_by_byte_fails_at_the_deadline_and_frees_the_channel(peers, caplog):
    """urlopen(timeout=10) bounded each read, not the delivery: the courier sat in one send() for ever."""

    def behave(p, c) -> None:
        p.read_request(c)
        drip(p, c)

    peer = peers(behave)
    box = Outbox(WebhookChannel("http://127.0.0.1:%d/hook" % peer.port, timeout=1.0), base=60)
    box.add([EVENT, EVENT._replace(server_id="srv-2")], 0.0)
    began = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="instance-notifier"):
        assert box.deliver(0.0) is False
    assert time.monotonic() - began < 4.0  # two deliveries, each cut off at its 1 s deadline
    assert len(peer.requests) == 2  # the second notification was tried too
    assert caplog.text.count("no complete exchange within 1s") == 2
    assert "delivery failed (attempt 1, next in 60s)" in caplog.text
    assert len(box.events()) == 2  # owed, retried later


def test_an_smtp_server_answering_byte_by_byte_fails_at_the_deadline(peers):
    peer = peers(lambda p, c: drip(p, c, b"220 " + b"x" * 10000 + b"\r\n"))
    channel = EmailChannel("127.0.0.1", peer.port, "n@example.com", {"*": ["ops@example.com"]}, timeout=1.0)
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=r"e-mail server 127.0.0.1:\d+: no complete exchange within 1s"):
        channel.send(EVENT)
    assert time.monotonic() - began < 3.0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirecting_webhook_is_a_failure_naming_where_it_points(peers, status, caplog):
    """urllib turned the POST into a bodiless GET on 301/302/303: a 2xx there removed the notification."""

    def redirect(peer: Peer, connection: socket.socket) -> None:
        peer.read_request(connection)
        answer = "HTTP/1.1 %d Moved\r\nLocation: http://127.0.0.1:%d/elsewhere\r\nContent-Length: 0\r\n\r\n"
        connection.sendall((answer % (status, peer.port)).encode())

    peer = peers(redirect)
    box = Outbox(WebhookChannel("http://127.0.0.1:%d/hook" % peer.port, timeout=5.0))
    box.add([EVENT], 0.0)
    with caplog.at_level(logging.ERROR, logger="instance-notifier"):
        assert box.deliver(0.0) is False
    assert "webhook answered %d, redirecting to http://127.0.0.1:%d/elsewhere" % (status, peer.port) in caplog.text
    assert [r.split(b" ", 2)[:2] for r in peer.requests] == [[b"POST", b"/hook"]]  # nothing followed the redirect
    assert json.loads(peer.requests[0].split(b"\r\n\r\n", 1)[1])["event"] == "instance.dead"
    assert box.events() == [EVENT]


def test_the_outbox_is_bounded_dropping_the_oldest_with_one_line(caplog):
    box = Outbox(LogChannel(), bound=10)
    events = [EVENT._replace(server_id="srv-%d" % i) for i in range(15)]
    with caplog.at_level(logging.ERROR, logger="instance-notifier"):
        box.add(events[:8], 0.0)
        box.add(events[8:], 0.0)
    assert box.events() == events[5:]
    assert "log: more than 10 notifications owed: the 5 oldest dropped (5 since the start)" in caplog.text
    assert caplog.text.count("dropped") == 1
    # delivered ones leave in any order, each at once (no list.remove over the backlog)
    assert box.deliver(0.0) is True
    assert box.events() == []


def test_a_state_that_load_would_refuse_is_never_written(tmp_path, monkeypatch):
    """Past 256 MiB the state was written, then refused at the next start: every state and notification lost."""
    path = tmp_path / "state.json"
    book = StateBook(str(path))
    book.update([Observation("srv-%d" % i, "p1", True) for i in range(10)])
    book.save()
    before = path.read_bytes()
    monkeypatch.setattr(state_module, "MAX_STATE_BYTES", len(before) + 10)
    book.update([Observation("srv-%d" % i, "p1", True) for i in range(20)])
    with pytest.raises(ValueError, match="more than a state file may have: not written"):
        book.save()
    assert path.read_bytes() == before
    assert len(StateBook(str(path)).servers) == 10  # the previous file loads


def test_an_email_for_a_project_without_recipient_is_said_once(caplog):
    channel = EmailChannel("127.0.0.1", 9, "n@example.com", {"p2": ["ops@example.com"]})
    with caplog.at_level(logging.WARNING, logger="instance-notifier"):
        channel.send(EVENT)
        channel.send(EVENT._replace(server_id="srv-2"))
    assert caplog.text.count("email: no recipient for project p1 (nor '*')") == 1


def _conf(tmp: Path, webhook: str, timeout: float) -> Path:
    conf = tmp / "instance-notifier.conf"
    conf.write_text(
        "[DEFAULT]\ninterval = 0.2\ndead_after = 1\nstate_file = %s\nretry_base = 0.2\nretry_max = 1\n"
        "[api]\nurl = http://127.0.0.1:9/v2/admin\nauth = noauth\nproject_id = admin\n"
        "[webhook]\nurl = %s\ntimeout = %s\n" % (tmp / "state.json", webhook, timeout)
    )
    return conf


def test_a_sighup_during_a_slow_delivery_sends_it_once(peers, tmp_path, monkeypatch):
    """The owed notifications were copied to the new outbox while the old courier still sent one: twice."""

    def slow_ok(peer: Peer, connection: socket.socket) -> None:
        peer.read_request(connection)
        time.sleep(1.5)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    peer = peers(slow_ok)
    monkeypatch.chdir(tmp_path)
    _conf(tmp_path, "http://127.0.0.1:%d/hook" % peer.port, 5)
    daemon = Daemon("instance-notifier.conf")  # relative: read again after a daemon's chdir("/")
    monkeypatch.chdir("/")
    rounds = {"n": 0}

    def polls():
        rounds["n"] += 1
        return [Observation("srv-1", "p1", rounds["n"] > 1)]  # dead once, then alive: one dead notification

    daemon.fetch = polls
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not peer.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert peer.requests, "the webhook was never called"
        daemon.reloading = True  # SIGHUP while the POST waits for its answer
        daemon.wake.set()
        time.sleep(4.0)  # the reload, and what a second courier would then send
    finally:
        daemon.stop()
        runner.join(30)
    posted = [json.loads(r.split(b"\r\n\r\n", 1)[1]) for r in peer.requests]
    dead = [p for p in posted if p["event"] == "instance.dead"]
    assert len(dead) == 1, posted
