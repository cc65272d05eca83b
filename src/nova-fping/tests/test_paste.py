"""The production paste pipeline: keystonemiddleware's auth_token in front of the API. No Keystone runs
here, so these tests only send requests that auth_token answers by itself (no token): it must refuse
them, whatever identity headers the client forges."""

import contextlib
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import webob
from nova_fping_testing import keystone_handler
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
    from keystonemiddleware.auth_token import AuthProtocol

    assert isinstance(app.app.app.protocol, AuthProtocol)  # with its validations bounded (nova_fping.authtoken)
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


@contextlib.contextmanager
def keystone_app(tmp_path: Path, handler: type, **authtoken: str):
    """The main pipeline in front of the static inventory, keystonemiddleware asking a FakeKeystoneV3 on
    127.0.0.1 (`handler`), with the shipped [filter:authtoken] options that `authtoken` names set to its values."""
    import http.server

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d" % server.server_address[1]
        paste = tmp_path / "api-paste.ini"
        text = (ETC / "api-paste.ini").read_text().replace("http://keystone.internal:5000", url)
        for name, value in authtoken.items():
            text, count = re.subn(r"(?m)^%s = .*$" % name, "%s = %s" % (name, value), text)
            assert count == 1, name
        paste.write_text(text)
        inventory = tmp_path / "inventory.json"
        inventory.write_text('{"servers": []}')
        conf = tmp_path / "nova-fping.conf"
        conf.write_text("[inventory]\nsource = static\nfile = %s\n[rate_limit]\ncalls = 0\n" % inventory)
        yield loadapp("config:%s" % paste, name="main", global_conf={"config": str(conf)})
    finally:
        server.shutdown()
        server.server_close()


def _ask(app, token: str):
    headers = {"X-Auth-Token": token} if token else {}
    return webob.Request.blank("/v2/p1/os-fping", headers=headers).get_response(app)


def test_the_token_cache_is_bounded(tmp_path):
    """keystonemiddleware's in-process cache kept every distinct token for token_cache_time (RSS grew with
    them) and swept all of them on every lookup: token_cache_size bounds it, least recently used first."""
    validations: list = []
    with keystone_app(tmp_path, keystone_handler(validations), token_cache_size="10") as app:
        auth = app.app.app
        for n in range(50):
            assert _ask(app, "token-%d" % n).status_int == 200
        assert len(auth.cache.entries) == 10
        assert len(validations) == 50
        assert _ask(app, "token-49").status_int == 200
        assert len(validations) == 50  # a cached token is not validated again
        assert _ask(app, "token-0").status_int == 200
        assert validations[-1] == "token-0"  # forgotten: validated again


def test_the_token_cache_forgets_expired_tokens_and_is_bounded_in_bytes():
    """Expired tokens stayed until 10,000 newer ones pushed them out (~40 KB each with a real catalog:
    ~400 MB a process); the bytes of the cache now bound it too (issue 54)."""
    from nova_fping.authtoken import TokenCache

    now = [0.0]
    cache = TokenCache(1000, clock=lambda: now[0], max_bytes=100_000)
    for n in range(10):
        cache.set("old-%d" % n, "x" * 1000, time=300)
    now[0] = 301.0  # every one of them expired
    cache.set("new", "x" * 1000, time=300)
    assert list(cache.entries) == ["new"]  # forgotten as a newer one came, not when 1,000 pushed them out
    assert cache.bytes < 2000
    for n in range(200):  # 200 tokens of ~1.2 KB against 100 KB: the least recently used go first
        cache.set("t-%d" % n, "x" * 1000, time=300)
    assert cache.bytes <= 100_000
    assert 70 <= len(cache.entries) < 90
    assert cache.get("t-199") is not None
    assert cache.get("t-0") is None


def test_token_validations_in_flight_are_bounded_and_cached_tokens_still_answered(tmp_path):
    """With keystone slow, one client with random tokens held every worker in validation: cached tokens and
    401s got 503 for as long as it went on. Beyond max_validations, an uncached token is a 503 at once."""
    slow = threading.Event()
    waiting: list = []  # the validations keystone holds

    class Slow(keystone_handler([])):  # type: ignore[misc]
        def do_GET(self) -> None:  # noqa: N802
            if self.headers.get("X-Subject-Token", "").startswith("slow") and not slow.is_set():
                waiting.append(self.headers["X-Subject-Token"])
                slow.wait(10)
            super().do_GET()

    held = []
    with keystone_app(tmp_path, Slow, max_validations="2") as app:
        try:
            assert _ask(app, "known").status_int == 200  # validated once: cached
            for n in range(2):  # two validations that keystone keeps waiting
                held.append(threading.Thread(target=_ask, args=(app, "slow-%d" % n)))
                held[-1].start()
            deadline = time.monotonic() + 10
            while len(waiting) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(waiting) == 2
            began = time.monotonic()
            refused = _ask(app, "random-token")
            assert time.monotonic() - began < 2.0
            assert refused.status_int == 503
            assert refused.headers["Retry-After"] == "30"
            assert _ask(app, "known").status_int == 200  # a cached token is answered
            assert _ask(app, "").status_int == 401  # no token: no wait
        finally:
            slow.set()
            for thread in held:
                thread.join(15)
