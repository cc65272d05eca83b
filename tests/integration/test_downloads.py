"""Downloads from servers we do not control, against a hostile HTTP server on 127.0.0.1: each is bounded in
size and time, redirects follow the same rules as URLs, a short body is a truncation (not a checksum
mismatch), and no exit leaves a partial file behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from altai_testlib import TOOLS, assert_one_line_error, build, run_tool, spec
from rpmtools import serve_with


class Hostile(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer()

    def _answer(self) -> None:
        path = self.path.split("?")[0]
        if path.endswith("/zeros"):  # endless, with no length announced
            self.send_response(200)
            self.end_headers()
            while True:
                self.wfile.write(b"\0" * 65536)
        elif path.endswith("/slow"):  # a byte every half second: never idle long enough to time out
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.5)
        elif path.endswith("/to-ftp"):
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/file")
            self.end_headers()
        elif path.endswith("/to-file"):
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()
        elif path.endswith("/short"):  # announces 100,000 bytes, sends 100 and hangs up
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"y" * 100)
            self.wfile.flush()
            self.close_connection = True
        elif path.endswith("/huge"):
            self.send_response(200)
            self.send_header("Content-Length", str(10 << 30))
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture
def hostile() -> Iterator[str]:
    with serve_with(Hostile) as url:
        yield url


def _fetch(url: str, dest: Path, **limits: float) -> None:
    from altai_release.core.download import fetch
    from altai_release.core.limits import DownloadLimits

    fetch(url, dest, "test download", DownloadLimits(**limits))  # type: ignore[arg-type]


def _nothing_left(directory: Path) -> None:
    assert os.listdir(directory) == [], os.listdir(directory)


def test_endless_body_stops_at_the_size_limit(hostile, tmp_path):
    from altai_release.core.errors import UpstreamError

    start = time.monotonic()
    with pytest.raises(UpstreamError, match="sends more than the limit of 1048576 bytes"):
        _fetch(f"{hostile}/zeros", tmp_path / "f", max_bytes=1 << 20)
    assert time.monotonic() - start < 10
    _nothing_left(tmp_path)
    with pytest.raises(UpstreamError, match=r"is 10737418240 bytes, more than the limit of 1048576"):
        _fetch(f"{hostile}/huge", tmp_path / "f", max_bytes=1 << 20)
    _nothing_left(tmp_path)


def test_dribbling_server_stops_at_the_deadline(hostile, tmp_path):
    from altai_release.core.errors import UpstreamError

    start = time.monotonic()
    with pytest.raises(UpstreamError, match="took longer than 2s; stopped"):
        _fetch(f"{hostile}/slow", tmp_path / "f", seconds=2, idle_seconds=5)
    assert time.monotonic() - start < 5  # the deadline counts the whole file, not the gap between two reads
    _nothing_left(tmp_path)


@pytest.mark.parametrize("where", ["to-ftp", "to-file"])
def test_redirect_obeys_the_url_rules(hostile, tmp_path, where):
    from altai_release.core.errors import UpstreamError

    with pytest.raises(UpstreamError, match=r"redirects to (ftp|file)://.*not an allowed URL \(http\(s\) only\)"):
        _fetch(f"{hostile}/{where}", tmp_path / "f")
    _nothing_left(tmp_path)


def _sources_repo(make_repo):
    return make_repo(
        {"hello.spec": spec(extra="Source1: data.tar.gz"), "sources": f"SHA512 (data.tar.gz) = {'0' * 128}\n"}
    )


def test_short_body_is_a_truncated_download(hostile, make_repo, tmp_path):
    """Not a checksum mismatch (exit 4): the server broke off (exit 3)."""
    repo = _sources_repo(make_repo)
    cache = tmp_path / "cache"
    run = run_tool(
        "git2srpm.py",
        "--lookaside",
        f"{hostile}/short?",
        "--cache",
        str(cache),
        "--outdir",
        str(tmp_path / "o"),
        str(repo.path),
    )
    assert_one_line_error(run, "Source1 data.tar.gz", "was truncated: 100 of 100000 bytes")
    assert run.returncode == 3
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_sigterm_during_a_download_leaves_no_partial_file(hostile, make_repo, tmp_path):
    repo = _sources_repo(make_repo)
    cache = tmp_path / "cache"
    argv = [
        sys.executable,
        str(TOOLS / "git2srpm.py"),
        "--lookaside",
        f"{hostile}/slow?",
        "--cache",
        str(cache),
        "--outdir",
        str(tmp_path / "o"),
        str(repo.path),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (cache / "sha512").is_dir():
        time.sleep(0.1)
    time.sleep(1.0)  # a few bytes in
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert not [p for p in cache.rglob("*") if not p.is_dir()]
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_download_limits_in_the_layout_are_checked(release, state_dir, gnupghome):
    release["layout"].write_text(release["layout"].read_text() + "\n[downloads]\nmax_mib = 0\n")
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, "downloads.max_mib: expected an integer from 1 to")


# -- what a broken server sends is one line naming its fault (issue 37) ------------------------------------

RAW_ANSWERS = {
    "/bad-status": (b"NOT HTTP AT ALL\r\n\r\n", "the server's answer is not HTTP"),
    "/long-header": (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200_000 + b"\r\n\r\n", "a line over 64 KiB"),
    "/many-headers": (
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(20_000)) + b"\r\n",
        "a malformed HTTP answer (got more than 100 headers)",
    ),
    "/bad-chunk": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "its chunks are broken",
    ),
    "/bad-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello", "a malformed Content-Length ('12abc')"),
    "/loop": (b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n", "redirects in a loop"),
    "/silent": (b"", "closed the connection without an answer"),
}


@pytest.fixture
def raw_server() -> Iterator[str]:
    """A server that answers each path with fixed bytes, not always HTTP."""
    import socketserver
    import threading

    class Raw(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while b"\r\n\r\n" not in data and (chunk := self.request.recv(4096)):
                data += chunk
            path = data.split(b" ")[1].decode() if data.count(b" ") else ""
            with contextlib.suppress(OSError):
                self.request.sendall(RAW_ANSWERS.get(path, (b"HTTP/1.1 404 NF\r\n\r\n", ""))[0])

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Raw)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("path", sorted(RAW_ANSWERS))
def test_a_broken_answer_is_one_error_naming_its_fault(raw_server, tmp_path, path):
    """Bad status lines, 200 KB headers, 20,000 headers and broken chunks were tracebacks."""
    from altai_release.core.errors import UpstreamError

    with pytest.raises(UpstreamError, match=re.escape(RAW_ANSWERS[path][1])):
        _fetch(f"{raw_server}{path}", tmp_path / "f")
    _nothing_left(tmp_path)


def test_a_file_url_must_name_a_public_file(tmp_path):
    """`srpm = "file:///etc/shadow"` printed the digest of the host's shadow file."""
    from altai_release.core.errors import UpstreamError

    secret = tmp_path / "secret"
    secret.write_text("root:hash\n")
    secret.chmod(0o640)
    with pytest.raises(UpstreamError, match="is not readable by everyone; a release's input is a public file"):
        _fetch(secret.as_uri(), tmp_path / "f")
    with pytest.raises(UpstreamError, match="is not a regular file"):
        _fetch(Path("/dev/zero").as_uri(), tmp_path / "f")
    secret.chmod(0o644)
    _fetch(secret.as_uri(), tmp_path / "f")  # the control
    assert (tmp_path / "f").read_text() == "root:hash\n"
