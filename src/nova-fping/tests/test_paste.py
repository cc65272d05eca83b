"""The production paste pipeline: keystonemiddleware's auth_token in front of the API. No Keystone runs
here, so these tests only send requests that auth_token answers by itself (no token): it must refuse
them, whatever identity headers the client forges."""

import contextlib
import shutil
import socket
import threading
import time
from pathlib import Path

import webob
from paste.deploy import loadapp

ETC = Path(__file__).resolve().parent.parent / "etc"


def load(tmp_path: Path, name: str):
    inventory = tmp_path / "inventory.json"
    inventory.write_text('{"servers": []}')
    policy = tmp_path / "policy.yaml"
    shutil.copy(ETC / "policy.yaml", policy)
    conf = tmp_path / "nova-fping.conf"
    conf.write_text(
        (ETC / "nova-fping.conf")
        .read_text()
        .replace("source = nova\nfile =\n", "source = static\nfile = %s\n" % inventory)
        .replace("file = /etc/nova-fping/policy.yaml", "file = %s" % policy)
    )
    return loadapp("config:%s" % (ETC / "api-paste.ini"), name=name, global_conf={"config": str(conf)})


def test_main_pipeline_puts_keystone_auth_token_in_front(tmp_path):
    app = load(tmp_path, "main")
    # the request log outermost (every request has an id and a line), then the fault wrapper (what a
    # middleware answers itself comes out as JSON), then auth_token
    assert type(app).__name__ == "RequestLog"
    assert type(app.app).__name__ == "FaultWrapper"
    assert type(app.app.app.protocol).__module__.startswith("keystonemiddleware.auth_token")
    forged = webob.Request.blank(
        "/v2/p1/os-fping", headers={"X-Project-Id": "p1", "X-Roles": "admin", "X-Identity-Status": "Confirmed"}
    )
    response = forged.get_response(app)
    assert response.status_int == 401


def test_noauth_pipeline_serves_from_headers(tmp_path):
    app = load(tmp_path, "noauth")
    response = webob.Request.blank("/v2/p1/os-fping", headers={"X-Project-Id": "p1"}).get_response(app)
    assert response.status_int == 200
    assert response.json == {"servers": []}
    assert webob.Request.blank("/v2/p1/os-fping").get_response(app).status_int == 401


def test_keystone_down_is_a_json_503_with_retry_after(tmp_path):
    """auth_token cannot reach keystone (nothing listens on its port): its own HTML 503 becomes the API's
    JSON fault with Retry-After, what python-novaclient reads."""
    paste = tmp_path / "api-paste.ini"
    paste.write_text((ETC / "api-paste.ini").read_text().replace("http://keystone.internal:5000", "http://127.0.0.1:9"))
    inventory = tmp_path / "inventory.json"
    inventory.write_text('{"servers": []}')
    conf = tmp_path / "nova-fping.conf"
    conf.write_text("[inventory]\nsource = static\nfile = %s\n" % inventory)
    app = loadapp("config:%s" % paste, name="main", global_conf={"config": str(conf)})
    response = webob.Request.blank("/v2/p1/os-fping", headers={"X-Auth-Token": "some-token"}).get_response(app)
    assert response.status_int == 503, response.text
    assert response.headers["Retry-After"] == "30"
    assert response.json["serviceUnavailable"]["code"] == 503


def test_a_hung_keystone_is_a_json_503_within_the_shipped_timeouts(tmp_path):
    """keystone accepts the connection and never answers: auth_token gives up after the shipped
    http_connect_timeout (5 s) and one retry, well within request_timeout, with the API's JSON 503."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    held: list = []
    stop = threading.Event()

    def accept() -> None:
        hung.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(hung.accept()[0])  # read nothing, answer nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = "http://127.0.0.1:%d" % hung.getsockname()[1]
    paste = tmp_path / "api-paste.ini"
    paste.write_text((ETC / "api-paste.ini").read_text().replace("http://keystone.internal:5000", url))
    inventory = tmp_path / "inventory.json"
    inventory.write_text('{"servers": []}')
    conf = tmp_path / "nova-fping.conf"
    conf.write_text("[inventory]\nsource = static\nfile = %s\n" % inventory)
    try:
        app = loadapp("config:%s" % paste, name="main", global_conf={"config": str(conf)})
        began = time.monotonic()
        response = webob.Request.blank("/v2/p1/os-fping", headers={"X-Auth-Token": "t"}).get_response(app)
        took = time.monotonic() - began
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        hung.close()
    assert response.status_int == 503, response.text
    assert response.headers["Retry-After"] == "30", response.text
    assert response.json["serviceUnavailable"]["code"] == 503
    assert took < 30  # the shipped request_timeout is 60 s


def _paste_with_keystone(tmp_path: Path, url: str):
    paste = tmp_path / "api-paste.ini"
    paste.write_text((ETC / "api-paste.ini").read_text().replace("http://keystone.internal:5000", url))
    inventory = tmp_path / "inventory.json"
    inventory.write_text('{"servers": []}')
    conf = tmp_path / "nova-fping.conf"
    conf.write_text("[inventory]\nsource = static\nfile = %s\n" % inventory)
    return loadapp("config:%s" % paste, name="main", global_conf={"config": str(conf)})


def test_a_keystone_answering_garbage_or_the_wrong_json_is_a_json_503(tmp_path):
    """keystone answering garbage or JSON of another shape was a 500 with a 205-line traceback."""
    import http.server

    class Garbage(http.server.BaseHTTPRequestHandler):
        answer = b"<html>not json</html>"

        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Subject-Token", "admin-token")
            self.send_header("Content-Length", str(len(self.answer)))
            self.end_headers()
            self.wfile.write(self.answer)

        do_GET = do_POST = _reply  # noqa: N815

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app = _paste_with_keystone(tmp_path, "http://127.0.0.1:%d" % server.server_address[1])
        for answer in (b"<html>not json</html>", b'{"token": "a string, not an object"}', b"[1, 2]"):
            Garbage.answer = answer
            response = webob.Request.blank("/v2/p1/os-fping", headers={"X-Auth-Token": "t"}).get_response(app)
            assert response.status_int == 503, (answer, response.status, response.text[:300])
            assert response.headers["Retry-After"] == "30"
            assert response.json["serviceUnavailable"]["code"] == 503
    finally:
        server.shutdown()
        server.server_close()


def test_keystonemiddlewares_401_comes_in_the_apis_fault_format(tmp_path):
    """A tokenless request: auth_token answers 401 in its own JSON; the caller gets the API's fault
    (`unauthorized`), with keystone's WWW-Authenticate kept."""
    app = load(tmp_path, "main")
    response = webob.Request.blank("/v2/p1/os-fping").get_response(app)
    assert response.status_int == 401
    assert list(response.json) == ["unauthorized"]
    assert response.json["unauthorized"]["code"] == 401
    assert "keystone" in response.headers.get("WWW-Authenticate", "").lower()


def test_the_shipped_files_start_without_a_warning_and_a_typo_is_refused(tmp_path, caplog):
    """keystonemiddleware's own factory warned 8 times at every start: each auth plugin option of the
    shipped section, and each key of the paste file's global section."""
    import logging

    import pytest

    with caplog.at_level(logging.WARNING):
        load(tmp_path, "main")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    paste = tmp_path / "api-paste.ini"
    paste.write_text((ETC / "api-paste.ini").read_text().replace("\nusername =", "\nusernme ="))
    with pytest.raises(ValueError, match=r"\[filter:authtoken\] usernme: not an option .* auth_type password"):
        loadapp("config:%s" % paste, name="main", global_conf={"config": str(tmp_path / "nova-fping.conf")})


class FakeKeystoneV3(object):
    """keystone's v3 as auth_token uses it: version discovery (GET /), the service's password token (POST
    /v3/auth/tokens) and the validation of a user's token (GET /v3/auth/tokens, X-Subject-Token), which
    here accepts every token as a member of project p1."""

    validations: list = []

    @classmethod
    def handler(cls):
        import http.server
        import json

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, code, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _base(self):
                address: tuple = self.server.server_address  # type: ignore[assignment]
                return "http://%s:%d/v3" % (str(address[0]), int(address[1]))

            def _token(self, user):
                domain = {"id": "default", "name": "Default"}
                return {
                    "token": {
                        "methods": ["password"],
                        "expires_at": "2099-01-01T00:00:00.000000Z",
                        "issued_at": "2026-01-01T00:00:00.000000Z",
                        "user": {"id": user, "name": user, "domain": domain},
                        "project": {"id": "p1", "name": "p1", "domain": domain},
                        "roles": [{"id": "r1", "name": "member"}],
                        "catalog": [
                            {
                                "type": "identity",
                                "id": "k",
                                "name": "keystone",
                                "endpoints": [
                                    {"id": i, "interface": i, "region": "RegionOne", "url": self._base()}
                                    for i in ("public", "internal", "admin")
                                ],
                            }
                        ],
                    }
                }

            def do_GET(self):  # noqa: N802
                if self.path.rstrip("/") in ("", "/v3"):
                    base = self._base() + "/"
                    version = {"id": "v3.14", "status": "stable", "links": [{"rel": "self", "href": base}]}
                    self._send(
                        200,
                        {"versions": {"values": [version]}} if self.path.rstrip("/") == "" else {"version": version},
                    )
                else:
                    cls.validations.append(self.headers["X-Subject-Token"])
                    self._send(200, self._token("u-" + self.headers["X-Subject-Token"]))

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                self._send(201, self._token("nova-fping"), [("X-Subject-Token", "service-token")])

            def log_message(self, *args):
                pass

        return Handler


def test_the_token_cache_is_bounded(tmp_path):
    """keystonemiddleware's in-process cache kept every distinct token for token_cache_time (RSS grew with
    them) and swept all of them on every lookup: token_cache_size bounds it, least recently used first."""
    import http.server

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeKeystoneV3.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d" % server.server_address[1]
        paste = tmp_path / "api-paste.ini"
        paste.write_text(
            (ETC / "api-paste.ini")
            .read_text()
            .replace("http://keystone.internal:5000", url)
            .replace("token_cache_size = 10000", "token_cache_size = 10")
        )
        inventory = tmp_path / "inventory.json"
        inventory.write_text('{"servers": []}')
        conf = tmp_path / "nova-fping.conf"
        conf.write_text("[inventory]\nsource = static\nfile = %s\n[rate_limit]\ncalls = 0\n" % inventory)
        app = loadapp("config:%s" % paste, name="main", global_conf={"config": str(conf)})
        auth = app.app.app
        FakeKeystoneV3.validations = []
        for n in range(50):
            request = webob.Request.blank("/v2/p1/os-fping", headers={"X-Auth-Token": "token-%d" % n})
            assert request.get_response(app).status_int == 200
        assert len(auth.cache.entries) == 10
        assert len(FakeKeystoneV3.validations) == 50
        again = webob.Request.blank("/v2/p1/os-fping", headers={"X-Auth-Token": "token-49"})
        assert again.get_response(app).status_int == 200
        assert len(FakeKeystoneV3.validations) == 50  # a cached token is not validated again
        first = webob.Request.blank("/v2/p1/os-fping", headers={"X-Auth-Token": "token-0"})
        assert first.get_response(app).status_int == 200
        assert FakeKeystoneV3.validations[-1] == "token-0"  # forgotten: validated again
    finally:
        server.shutdown()
        server.server_close()
