"""The production paste pipeline: keystonemiddleware's auth_token in front of the API. No Keystone runs
here, so these tests only send requests that auth_token answers by itself (no token): it must refuse
them, whatever identity headers the client forges."""

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
    assert type(app).__name__ == "RequestLog" and type(app.app).__name__ == "FaultWrapper"
    assert type(app.app.app).__module__.startswith("keystonemiddleware.auth_token")
    forged = webob.Request.blank(
        "/v2/p1/os-fping", headers={"X-Project-Id": "p1", "X-Roles": "admin", "X-Identity-Status": "Confirmed"}
    )
    response = forged.get_response(app)
    assert response.status_int == 401


def test_noauth_pipeline_serves_from_headers(tmp_path):
    app = load(tmp_path, "noauth")
    response = webob.Request.blank("/v2/p1/os-fping", headers={"X-Project-Id": "p1"}).get_response(app)
    assert response.status_int == 200 and response.json == {"servers": []}
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
            try:
                held.append(hung.accept()[0])  # read nothing, answer nothing
            except OSError:
                pass

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
    assert response.status_int == 503 and response.headers["Retry-After"] == "30", response.text
    assert response.json["serviceUnavailable"]["code"] == 503
    assert took < 30  # the shipped request_timeout is 60 s
