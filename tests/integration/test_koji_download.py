"""A task output or build RPM fetched from the hub's topurl through the one downloader (download.fetch):
exactly the hub's size, and bounded in time in all."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from altai_release.builders.kojihub import http_get
from altai_release.core.errors import KojiError


class _Drip(http.server.BaseHTTPRequestHandler):
    """Promises 1,000 bytes and sends one every 50 ms: each wait is short, the whole is 50 s."""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass  # the client gave up

    def log_message(self, *args):
        pass


@pytest.fixture
def drip():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/work/tasks/1/1/x.rpm"
    server.shutdown()


def test_a_server_that_drips_is_stopped_at_the_deadline(drip, tmp_path):
    began = time.monotonic()
    with pytest.raises(KojiError, match="took longer than 1s; stopped"):
        http_get(drip, tmp_path / "x.rpm", 1000, True, seconds=1.0)
    assert time.monotonic() - began < 10  # not the 50 s the server would take


def test_a_file_other_than_the_hubs_record_is_refused_and_not_kept(drip, tmp_path):
    with pytest.raises(KojiError, match=r"x\.rpm is 1000 bytes, expected 5"):
        http_get(drip, tmp_path / "x.rpm", 5, True, seconds=30.0)
    assert not (tmp_path / "x.rpm").exists()
