"""NovaInventory against FakeNova: a test stand-in for Nova's compute API (no Nova runs here), serving
`GET /servers/detail` the way Nova answers it, over HTTP on 127.0.0.1, reached through a real
keystoneauth1 session. The test checks the queries Nova would get and the addresses taken from its
answer (fixed and floating, IPv4 and IPv6)."""

import http.server
import json
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Optional

import pytest
from keystoneauth1 import session

from nova_fping.api import FpingApi
from nova_fping.fping import FpingProber
from nova_fping.inventory import NovaInventory, Server
from nova_fping.policy import Policy

S1, S2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
SERVERS = [
    {
        "id": S1,
        "tenant_id": "p1",
        "addresses": {
            "private": [
                {"addr": "10.0.0.5", "version": 4, "OS-EXT-IPS:type": "fixed"},
                {"addr": "203.0.113.7", "version": 4, "OS-EXT-IPS:type": "floating"},
            ],
            "v6net": [{"addr": "2001:DB8::5", "version": 6, "OS-EXT-IPS:type": "fixed"}],
        },
    },
    {"id": S2, "tenant_id": "p2", "addresses": {}},
]


def _send_json(handler: http.server.BaseHTTPRequestHandler, status: int, document: dict, extra: Optional[dict] = None):
    body = json.dumps(document).encode()
    handler.send_response(status)
    headers = {**(extra or {}), "Content-Type": "application/json", "Content-Length": str(len(body))}
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


class FakeNova(http.server.BaseHTTPRequestHandler):
    """GET /servers/detail as Nova answers it: filters project_id and uuid, pages of at most max_limit
    (1,000) servers, `limit` and `marker` (the last id of the previous page; an unknown one is a 400), and a
    `servers_links` "next" link when a page is full (nova.api.openstack.common.ViewBuilder)."""

    queries: list = []
    tokens: list = []
    fail = False
    hang = 0.0  # seconds before answering (a hung Nova)
    loop = False  # every page the same, with a "next" link (a Nova whose listing never ends)
    drip = False  # a body sent a byte at a time
    garbage = False  # an answer that is not JSON
    servers: list = SERVERS
    max_limit = 1000
    ignore_limit = False  # every server on one page, whatever `limit` asked

    def do_GET(self):  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        FakeNova.queries.append((url.path, urllib.parse.parse_qs(url.query)))
        FakeNova.tokens.append(self.headers.get("X-Auth-Token"))
        if FakeNova.fail:
            self.send_response(500)
            self.end_headers()
            return
        if FakeNova.hang:
            time.sleep(FakeNova.hang)
        if FakeNova.drip:  # a byte every half second: never idle long enough for a read's timeout
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100000):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.5)
            return
        if FakeNova.garbage:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>not json</html>")
            return
        query = urllib.parse.parse_qs(url.query)
        servers = [
            s
            for s in FakeNova.servers
            if s["tenant_id"] in query.get("project_id", [s["tenant_id"]]) and s["id"] in query.get("uuid", [s["id"]])
        ]
        limit = min(int(query.get("limit", [FakeNova.max_limit])[0]), FakeNova.max_limit)
        if FakeNova.ignore_limit:
            limit = len(servers) + 1
        if "marker" in query and not FakeNova.loop:
            ids = [s["id"] for s in servers]
            if query["marker"][0] not in ids:
                self.send_response(400)
                self.end_headers()
                return
            servers = servers[ids.index(query["marker"][0]) + 1 :]
        page = servers[:limit]
        answer: dict = {"servers": page}
        if FakeNova.loop:
            page = servers[:1]
        if len(page) == limit or FakeNova.loop:
            marker = page[-1]["id"]
            answer["servers_links"] = [{"rel": "next", "href": "http://nova/v2.1/servers/detail?marker=" + marker}]
        _send_json(self, 200, answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def nova():
    FakeNova.queries, FakeNova.fail, FakeNova.servers, FakeNova.hang, FakeNova.loop = [], False, SERVERS, 0.0, False
    FakeNova.drip = FakeNova.garbage = False
    FakeNova.tokens = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeNova)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/v2.1" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_servers_and_addresses_from_nova(nova):
    inventory = NovaInventory(session.Session(), endpoint_override=nova)
    assert inventory.list(None) == [Server(S1, "p1", ["10.0.0.5", "203.0.113.7", "2001:db8::5"]), Server(S2, "p2", [])]
    assert [s.id for s in inventory.list("p2")] == [S2]
    found = inventory.get(S1)
    assert found is not None
    assert found.project_id == "p1"
    assert inventory.get("33333333-3333-3333-3333-333333333333") is None
    page = {"all_tenants": ["1"], "limit": ["1000"]}
    assert FakeNova.queries == [
        ("/v2.1/servers/detail", page),
        ("/v2.1/servers/detail", {**page, "project_id": ["p2"]}),
        ("/v2.1/servers/detail", {**page, "uuid": [S1]}),
        ("/v2.1/servers/detail", {**page, "uuid": ["33333333-3333-3333-3333-333333333333"]}),
    ]
    # an id in capitals is the same server
    found_upper = inventory.get(S1.upper())
    assert found_upper is not None
    assert found_upper.id == S1


def test_nova_inventory_reads_every_page(nova):
    FakeNova.servers = [
        {"id": "00000000-0000-0000-0000-%012d" % i, "tenant_id": "big", "addresses": {}} for i in range(1200)
    ]
    inventory = NovaInventory(session.Session(), endpoint_override=nova)
    listed = inventory.list("big")
    assert len(listed) == 1200
    assert listed[1150].id == "00000000-0000-0000-0000-%012d" % 1150
    markers = [q[1].get("marker") for q in FakeNova.queries]
    assert markers == [None, ["00000000-0000-0000-0000-%012d" % 999]]


def test_nova_failure_is_a_503_not_a_crash(nova):
    import webob

    FakeNova.fail = True
    app = FpingApi(NovaInventory(session.Session(), endpoint_override=nova), FpingProber(), Policy())
    request = webob.Request.blank("/v2/p1/os-fping", headers={"X-Project-Id": "p1", "X-Identity-Status": "Confirmed"})
    response = request.get_response(app)
    assert response.status_int == 503
    assert "cannot list servers" in response.json["serviceUnavailable"]["message"]


def _fping_call(inventory: NovaInventory):
    import webob

    app = FpingApi(inventory, FpingProber(), Policy())
    request = webob.Request.blank("/v2/p1/os-fping", headers={"X-Project-Id": "p1", "X-Identity-Status": "Confirmed"})
    return request.get_response(app)


def test_a_hung_nova_is_a_503_with_retry_after_within_the_timeout(nova):
    FakeNova.hang = 20.0
    started = time.monotonic()
    response = _fping_call(NovaInventory(session.Session(), endpoint_override=nova, timeout=1.0))
    assert time.monotonic() - started < 5.0
    assert response.status_int == 503
    assert response.headers["Retry-After"] == "30"
    assert "cannot list servers" in response.json["serviceUnavailable"]["message"]


def test_a_nova_that_repeats_its_page_is_a_503_not_a_loop(nova):
    FakeNova.loop = True
    response = _fping_call(NovaInventory(session.Session(), endpoint_override=nova))
    assert response.status_int == 503
    assert "repeats its page" in response.json["serviceUnavailable"]["message"]
    assert len(FakeNova.queries) == 2  # the first page, and the one that repeated it


def test_shipped_paste_config_bounds_keystone(tmp_path):
    """keystonemiddleware reads these two options: a slow keystone cannot hold the API's threads."""
    import configparser
    from pathlib import Path

    from keystonemiddleware.auth_token import _opts

    paste = configparser.ConfigParser(interpolation=None)
    paste.read(Path(__file__).resolve().parents[1] / "etc" / "api-paste.ini")
    known = {opt.dest for _, opts in _opts.list_opts() for opt in opts}
    assert {"http_connect_timeout", "http_request_max_retries"} <= known
    assert paste.getint("filter:authtoken", "http_connect_timeout") <= 10
    assert paste.getint("filter:authtoken", "http_request_max_retries") <= 1


class FakeKeystone(http.server.BaseHTTPRequestHandler):
    """keystone's v3 password authentication (POST /v3/auth/tokens), as keystoneauth1 uses it: the token in
    X-Subject-Token, the token's body with its scope."""

    requests: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeKeystone.requests.append((self.path, body))
        domain = {"id": "default", "name": "Default"}
        token = {
            "token": {
                "methods": ["password"],
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "issued_at": "2026-01-01T00:00:00.000000Z",
                "user": {"id": "u1", "name": "nova-fping", "domain": domain},
                "project": {"id": "service-id", "name": "service", "domain": domain},
                "roles": [{"id": "r1", "name": "service"}],
                "catalog": [],
            }
        }
        _send_json(self, 201, token, {"X-Subject-Token": "token-from-keystone"})

    def log_message(self, *args):
        pass


def test_the_nova_section_is_loaded_by_keystoneauths_own_loaders(nova, tmp_path):
    from nova_fping import conf as fping_conf
    from nova_fping import config

    FakeKeystone.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeKeystone)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    keystone = "http://127.0.0.1:%d/v3" % server.server_address[1]
    path = tmp_path / "nova-fping.conf"
    path.write_text(
        "[nova]\nauth_type = password\nauth_url = %s\nusername = nova-fping\npassword = secret\n"
        "project_name = service\nuser_domain_name = Default\nproject_domain_name = Default\n"
        "endpoint_override = %s\ntimeout = 5\n" % (keystone, nova)
    )
    try:
        inventory = config.build_inventory(fping_conf.load([str(path)]))
        servers = inventory.list(None)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(s.id for s in servers) == [S1, S2]
    ((where, body),) = FakeKeystone.requests
    assert where == "/v3/auth/tokens"
    user = body["auth"]["identity"]["password"]["user"]
    assert (user["name"], user["password"], user["domain"]["name"]) == ("nova-fping", "secret", "Default")
    assert body["auth"]["scope"]["project"]["name"] == "service"
    assert FakeNova.tokens == ["token-from-keystone"]
    assert inventory.session.timeout == 5  # type: ignore[attr-defined]


def test_a_nova_that_drips_its_body_is_a_503_within_the_listings_deadline(nova):
    """One byte every half second: each read's timeout never fires, so every thread waited for the whole
    body (all 100 clients timed out at 90 s). The listing's deadline bounds its reads too."""
    FakeNova.drip = True
    started = time.monotonic()
    response = _fping_call(NovaInventory(session.Session(), endpoint_override=nova, timeout=5.0, deadline=2.0))
    assert time.monotonic() - started < 5.0
    assert response.status_int == 503
    assert response.headers["Retry-After"] == "30"
    assert "took longer than 2s" in response.json["serviceUnavailable"]["message"]


def test_a_page_over_its_byte_bound_or_not_json_is_a_503_and_names_no_url(nova):
    FakeNova.servers = [
        {"id": "00000000-0000-0000-0000-%012d" % i, "tenant_id": "p1", "addresses": {}} for i in range(500)
    ]
    response = _fping_call(NovaInventory(session.Session(), endpoint_override=nova, max_page_bytes=4096))
    assert response.status_int == 503
    assert "over 4096 bytes" in response.json["serviceUnavailable"]["message"]
    FakeNova.garbage = True
    response = _fping_call(NovaInventory(session.Session(), endpoint_override=nova))
    assert response.status_int == 503
    assert "not JSON" in response.json["serviceUnavailable"]["message"]
    # a Nova that cannot be reached: its internal URL stays in the log, not in the caller's answer
    response = _fping_call(NovaInventory(session.Session(), endpoint_override="http://127.0.0.1:9/v2.1", timeout=2))
    message = response.json["serviceUnavailable"]["message"]
    assert response.status_int == 503, message
    assert "127.0.0.1:9" not in message, message
    assert "://" not in message, message


def test_a_nova_that_ignores_limit_or_pages_past_the_listings_bytes_is_a_503(nova):
    """One listing held 100 pages of 16 MiB (a Nova that ignores `limit`): 677 MB for one request (issue 54)."""
    FakeNova.servers = [
        {"id": "00000000-0000-0000-0000-%012d" % i, "tenant_id": "p1", "addresses": {}} for i in range(1500)
    ]
    FakeNova.ignore_limit = True  # answers 1,500 servers to a page of 1,000
    try:
        response = _fping_call(NovaInventory(session.Session(), endpoint_override=nova))
    finally:
        FakeNova.ignore_limit = False
    assert response.status_int == 503
    assert (
        "answered 1500 servers for a page of 1000: it ignores limit" in response.json["serviceUnavailable"]["message"]
    )
    # two honest pages (~75 and ~37 KB) against a listing bound of 100 KB: the second is read no further
    inventory = NovaInventory(session.Session(), endpoint_override=nova, max_list_bytes=100_000)
    response = _fping_call(inventory)
    assert response.status_int == 503
    assert "Nova's listing is over 100000 bytes: read no further" in response.json["serviceUnavailable"]["message"]
    assert len(FakeNova.queries) == 3  # the ignoring page, then two of the honest listing


def test_the_listing_takes_nova_timeout_not_the_requests_whole_deadline(tmp_path):
    """A dripping Nova held every worker for request_timeout (60 s), not [nova] timeout (10 s)."""
    from nova_fping import config

    def deadline(text: str) -> float:
        conf_file = tmp_path / "nova-fping.conf"
        conf_file.write_text("[nova]\nauth_type = none\nendpoint_override = http://127.0.0.1:9/v2.1\n" + text)
        return config.build_inventory(config.load([str(conf_file)])).deadline  # type: ignore[attr-defined]

    assert deadline("") == 10.0  # [nova] timeout's default
    assert deadline("timeout = 4\n") == 4.0
    assert deadline("list_timeout = 25\n") == 25.0
    assert deadline("list_timeout = 600\n[fping]\nrequest_timeout = 60\n") == 60.0


def test_stopping_the_service_ends_a_read_from_nova_with_a_503(nova):
    """SIGTERM while requests waited for a slow Nova cut every such reply off ("Empty reply")."""
    from nova_fping import inventory as inventory_module

    FakeNova.drip = True
    answers: list = []
    asking = threading.Thread(
        target=lambda: answers.append(_fping_call(NovaInventory(session.Session(), endpoint_override=nova)))
    )
    asking.start()
    try:
        deadline = time.monotonic() + 10
        while not FakeNova.queries and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the read has begun
        began = time.monotonic()
        inventory_module.stop_all()
        asking.join(10)
        assert time.monotonic() - began < 3.0
    finally:
        inventory_module._STOPPING.clear()  # this process goes on with other tests
    (response,) = answers
    assert response.status_int == 503
    assert response.headers["Retry-After"] == "30"
    assert "the service is stopping" in response.json["serviceUnavailable"]["message"]


def test_a_request_that_waited_past_what_its_listing_needs_is_refused_at_once(nova):
    """Queued requests were answered after ~120 s or never: one that cannot end within request_timeout
    any more, its wait and its listing's deadline together, is a 503 at once."""
    import webob

    from nova_fping.api import QUEUED_AT

    app = FpingApi(NovaInventory(session.Session(), endpoint_override=nova, deadline=10.0), FpingProber(), Policy())
    headers = {"X-Project-Id": "p1", "X-Identity-Status": "Confirmed"}
    late = webob.Request.blank("/v2/p1/os-fping", headers=headers, environ={QUEUED_AT: time.monotonic() - 55})
    response = late.get_response(app)
    assert response.status_int == 503
    assert response.headers["Retry-After"] == "5"
    assert "waited too long for a worker" in response.json["serviceUnavailable"]["message"]
    assert FakeNova.queries == []  # Nova was not asked
    timely = webob.Request.blank("/v2/p1/os-fping", headers=headers, environ={QUEUED_AT: time.monotonic() - 5})
    assert timely.get_response(app).status_int == 200


def test_sigterm_while_nova_drips_answers_503_and_the_service_exits_after_the_grace(nova, tmp_path):
    """SIGTERM while requests waited for a slow Nova cut every such reply off ("Empty reply") and exited
    after 42 s, past TimeoutStopSec: at the end of the grace the Nova read is ended like fping is."""
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from nova_fping_testing import free_port, wait_listening

    FakeNova.drip = True
    etc = Path(__file__).resolve().parent.parent / "etc"
    conf = tmp_path / "nova-fping.conf"
    conf.write_text(
        "[DEFAULT]\nshutdown_timeout = 1\npaste_config = %s\n[inventory]\nsource = nova\n"
        "[nova]\nauth_type = none\nendpoint_override = %s\nlist_timeout = 60\n[fping]\nrequest_timeout = 120\n"
        "[rate_limit]\ncalls = 0\n" % (etc / "api-paste.ini", nova)
    )
    port = free_port()
    log = open(tmp_path / "api.log", "w")  # noqa: SIM115 - the API's output while it runs
    argv = [
        sys.executable,
        "-m",
        "nova_fping.cli",
        "--config",
        str(conf),
        "--listen",
        "127.0.0.1:%d" % port,
        "--noauth",
    ]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    answers: list = []

    def call() -> None:
        request = urllib.request.Request("http://127.0.0.1:%d/v2/p1/os-fping" % port, headers={"X-Project-Id": "p1"})
        try:
            urllib.request.urlopen(request, timeout=60)  # noqa: S310
        except urllib.error.HTTPError as exc:
            answers.append((exc.code, exc.headers.get("Retry-After"), json.loads(exc.read())))
        except OSError as exc:  # an empty reply
            answers.append((0, None, str(exc)))

    try:
        wait_listening(port, proc)
        asking = threading.Thread(target=call)
        asking.start()
        deadline = time.monotonic() + 10
        while not FakeNova.queries and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        began = time.monotonic()
        proc.terminate()
        asking.join(30)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - began < 5.0  # 1 s of grace, not the listing's 60
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    (answer,) = answers
    assert answer[:2] == (503, "30"), answer
    assert "the service is stopping" in answer[2]["serviceUnavailable"]["message"]
