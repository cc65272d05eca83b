"""The HTTPS front of the fake hub: XML-RPC, the fast upload, topurl's files; the client certificate asked
for as httpd's `SSLVerifyClient optional` does."""

from __future__ import annotations

import urllib.parse
import xmlrpc.client
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import koji

from .tasks import KOJI_VERSION

if TYPE_CHECKING:
    from .hub import FakeKojiHub


def handler_for(hub: FakeKojiHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            with hub.lock:
                hub.connections.append(self.connection)

        def _peer_cn(self) -> str | None:
            cert = self.connection.getpeercert()
            if not cert:
                return None
            return next((v for rdn in cert["subject"] for k, v in rdn if k == "commonName"), None)

        def _reply(self, body: bytes, content_type: str = "text/xml", status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Koji-Version", KOJI_VERSION)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if hub.stopped.is_set():
                self.close_connection = True
                return
            url = urllib.parse.urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                if url.path not in ("/kojihub", "/kojihub/ssllogin"):
                    self._reply(b"not found", "text/plain", 404)
                    return
                if self.headers.get("Content-Type") == "application/octet-stream":
                    query = dict(urllib.parse.parse_qsl(url.query))
                    result: Any = hub.raw_upload(query, body, self.headers)
                else:
                    params, method = xmlrpc.client.loads(body, use_builtin_types=True)
                    assert method is not None
                    if (method == "sslLogin") != (url.path == "/kojihub/ssllogin"):
                        raise xmlrpc.client.Fault(koji.AuthError.faultCode, f"{method} sent to {url.path}")
                    result = hub.dispatch(method, params, self.headers, self._peer_cn())
                response = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True)
            except xmlrpc.client.Fault as fault:
                response = xmlrpc.client.dumps(fault, methodresponse=True, allow_none=True)
            self._reply(response.encode())

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            with hub.lock:
                hub.calls.append(("GET", (url.path,), {}))
            path = hub.serve_file(url.path.removeprefix("/kojifiles/")) if url.path.startswith("/kojifiles/") else None
            if path is None:
                self._reply(b"not found", "text/plain", 404)
                return
            self._reply(path.read_bytes(), "application/x-rpm")

    return Handler
