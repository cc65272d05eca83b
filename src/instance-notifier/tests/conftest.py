"""Fixtures of instance-notifier's tests: namespace instances and the real nova-fping API (from nova-fping's
tests/nova_fping_testing.py), a real SMTP server (aiosmtpd) and a real HTTP receiver for the webhook, all
on 127.0.0.1."""

import http.server
import json
import threading

import pytest
from aiosmtpd.controller import Controller
from nova_fping_testing import Api, free_port, instance_factory, unreachable_test_range


@pytest.fixture(scope="session", autouse=True)
def test_range_is_unreachable():
    yield from unreachable_test_range()


@pytest.fixture
def instances():
    yield from instance_factory()


@pytest.fixture
def api(tmp_path):
    started: list = []

    def start(servers: list) -> Api:
        workdir = tmp_path / ("api%d" % len(started))
        workdir.mkdir()
        server = Api(workdir, servers, conf_text="[rate_limit]\ncalls = 0\n")  # the daemon polls fast here
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class _Mailbox(object):
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append({"to": list(envelope.rcpt_tos), "data": envelope.content.decode("utf-8", "replace")})
        return "250 OK"


@pytest.fixture
def smtp():
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, mailbox.messages
    controller.stop()


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(_Receiver.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Receiver.received, _Receiver.status = [], 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/hook" % server.server_address[1], _Receiver
    server.shutdown()
    server.server_close()
