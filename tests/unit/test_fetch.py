"""The one downloader and the lookaside against a real HTTP server on 127.0.0.1 (in this process, one per
module): digests, sizes, limits, redirects, file:// rules, and a download that fails keeps nothing."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator

import pytest
from altai_release.core.download import fetch, fetch_verified
from altai_release.core.errors import InputError, UpstreamError, VerificationError
from altai_release.core.limits import DownloadLimits
from altai_release.sources.lookaside import Lookaside, LookasideFile, parse_sources

BODY = b"the bytes of a source tarball\n" * 10
SHA256 = hashlib.sha256(BODY).hexdigest()
SHA512 = hashlib.sha512(BODY).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    served: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        Handler.served.append(self.path)
        routes = {
            "/ok": (200, {"Content-Length": str(len(BODY))}, BODY),
            "/unannounced": (200, {"Connection": "close"}, BODY),
            "/short": (200, {"Content-Length": str(len(BODY) + 10), "Connection": "close"}, BODY),
            "/malformed": (200, {"Content-Length": "12abc"}, b""),
            "/huge": (200, {"Content-Length": str(10**12)}, b""),
            "/missing": (404, {"Content-Length": "0"}, b""),
            "/to-ok": (302, {"Location": "/ok", "Content-Length": "0"}, b""),
            "/to-ftp": (302, {"Location": "ftp://example.org/x", "Content-Length": "0"}, b""),
        }
        if self.path.startswith("/look/pkg/src.tar.gz/sha512/"):
            routes[self.path] = routes["/ok"]
        code, headers, body = routes.get(self.path, routes["/missing"])
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_whole_file_is_named_with_its_digest(server, tmp_path):
    dest = tmp_path / "out"
    assert fetch(f"{server}/ok", dest, "src") == SHA256
    assert dest.read_bytes() == BODY
    assert fetch(f"{server}/unannounced", tmp_path / "b", "src", size=len(BODY)) == SHA256
    assert fetch(f"{server}/to-ok", tmp_path / "c", "src", algorithm="sha512", expect=SHA512) == SHA512


@pytest.mark.parametrize(
    ("path", "kwargs", "error", "said"),
    [
        ("/ok", {"expect": "0" * 64}, VerificationError, "does not match its checksum"),
        ("/ok", {"size": 5}, UpstreamError, f"is {len(BODY)} bytes, expected 5"),
        ("/unannounced", {"size": 5}, UpstreamError, "sends more than 5 bytes"),
        ("/unannounced", {"size": 10_000}, UpstreamError, f"has {len(BODY)} bytes, expected 10000"),
        ("/short", {}, UpstreamError, "was truncated"),
        ("/malformed", {}, UpstreamError, "malformed Content-Length"),
        ("/huge", {}, UpstreamError, "more than the limit of"),
        ("/missing", {}, UpstreamError, "HTTP 404"),
        ("/to-ftp", {}, UpstreamError, "which is not an allowed URL"),
    ],
)
def test_a_failed_download_is_one_error_and_keeps_nothing(server, tmp_path, path, kwargs, error, said):
    with pytest.raises(error, match=said) as caught:
        fetch(f"{server}{path}", tmp_path / "out", "Source0", **kwargs)
    assert str(caught.value).startswith("Source0: ")
    assert list(tmp_path.iterdir()) == []  # not even a partial file


def test_limits_bound_an_unannounced_body(server, tmp_path):
    small = DownloadLimits(max_bytes=100, seconds=10, idle_seconds=5)
    with pytest.raises(UpstreamError, match="sends more than the limit of 100 bytes"):
        fetch(f"{server}/unannounced", tmp_path / "out", "x", small)


def test_only_http_and_public_files(tmp_path):
    with pytest.raises(UpstreamError, match="http://, https:// or file:// only"):
        fetch("ftp://example.org/x", tmp_path / "out", "x")
    public = tmp_path / "public"
    public.write_bytes(BODY)
    public.chmod(0o644)
    assert fetch(f"file://{public}", tmp_path / "copy", "x") == SHA256
    public.chmod(0o600)
    with pytest.raises(UpstreamError, match="not readable by everyone"):
        fetch(f"file://{public}", tmp_path / "copy2", "x")
    with pytest.raises(UpstreamError, match="is not a regular file"):
        fetch(f"file://{tmp_path}", tmp_path / "copy3", "x")
    with pytest.raises(UpstreamError, match="cannot fetch"):
        fetch(f"file://{tmp_path}/absent", tmp_path / "copy4", "x")


def test_fetch_verified_serves_the_cache_without_the_network(server, tmp_path):
    before = len(Handler.served)
    first = fetch_verified(f"{server}/ok", SHA256, tmp_path, "x")
    again = fetch_verified(f"{server}/ok", SHA256, tmp_path, "x")
    assert first == again == tmp_path / "sha256" / SHA256
    assert len(Handler.served) == before + 1


def test_parse_sources_reads_both_shapes():
    text = f"# comment\n\nSHA512 (src.tar.gz) = {SHA512}\n{'a' * 32}  old.tar.gz\nSHA3-256 (x.tgz) = {'b' * 64}\n"
    files = parse_sources(text, "sources")
    assert files["src.tar.gz"] == LookasideFile("src.tar.gz", "sha512", SHA512, "sha512")
    assert files["old.tar.gz"].algorithm == "md5"
    assert files["x.tgz"] == LookasideFile("x.tgz", "sha3_256", "b" * 64, "sha3-256")
    with pytest.raises(InputError, match="sources:1: expected"):
        parse_sources("what is this\n", "sources")
    with pytest.raises(InputError, match="cannot check '../x'"):
        parse_sources(f"SHA512 (../x) = {SHA512}\n", "sources")
    with pytest.raises(InputError, match="with 'nohash'"):
        parse_sources("NOHASH (x) = 00\n", "sources")


def test_lookaside_fetches_once_then_works_offline(server, tmp_path):
    entry = LookasideFile("src.tar.gz", "sha512", SHA512, "sha512")
    cache = tmp_path / "cache"
    got = Lookaside(f"{server}/look/", cache).get("pkg", entry, None, "Source0")
    assert got.read_bytes() == BODY
    assert Lookaside(None, cache, offline=True).get("pkg", entry, None, "Source0") == got
    got.write_bytes(b"damaged")
    with pytest.raises(InputError, match="did not match its hash \\(removed\\); fetch it once without --offline"):
        Lookaside(None, cache, offline=True).get("pkg", entry, None, "Source0")
    assert not got.exists()
    # the lookaside does not have it: the Source's own URL is next, and both failures are said
    other = LookasideFile("other.tar.gz", "sha512", SHA512, "sha512")
    assert Lookaside(f"{server}/look", cache).get("pkg", other, f"{server}/ok", "Source1").read_bytes() == BODY
    with pytest.raises(UpstreamError, match="HTTP 404.*; .*HTTP 404"):
        Lookaside(f"{server}/look", tmp_path / "c2").get("pkg", other, f"{server}/missing", "Source1")
    with pytest.raises(InputError, match="no lookaside URL"):
        Lookaside(None, tmp_path / "c3").get("pkg", other, None, "Source1")
