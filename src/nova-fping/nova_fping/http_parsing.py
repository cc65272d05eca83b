"""What nova-fping-api answers before the application sees a request: waitress's own refusals (headers or body
over the limit, a malformed request) in the API's JSON fault format, the parser's stricter framing, and the
raw answers the event loop sends itself."""

import json
from typing import Dict, Optional

from waitress.parser import HTTPRequestParser, ParsingError
from waitress.receiver import ChunkedReceiver
from waitress.task import ErrorTask
from waitress.utilities import RequestEntityTooLarge

_FAULT_KEYS = {
    400: "badRequest",
    408: "badRequest",
    413: "badRequest",
    414: "badRequest",
    431: "badRequest",
    500: "computeFault",
    503: "serviceUnavailable",
}


def _json_fault(code: int, message: str, retry_after: Optional[int] = None) -> bytes:
    body: Dict[str, object] = {"code": code, "message": message}
    if retry_after is not None:
        body["retryAfter"] = str(retry_after)
    return json.dumps({_FAULT_KEYS.get(code, "computeFault"): body}).encode("utf-8")


def raw_response(code: int, reason: str, message: str, retry_after: int) -> bytes:
    body = _json_fault(code, message, retry_after)
    head = (
        "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=UTF-8\r\nRetry-After: %d\r\n"
        "Connection: close\r\nContent-Length: %d\r\n\r\n" % (code, reason, retry_after, len(body))
    )
    return head.encode("ascii") + body


class JsonErrorTask(ErrorTask):
    """What waitress itself refuses (headers or body over the limit, a malformed request) answered in the
    API's JSON fault format instead of waitress's plain text. A body over the limit is a 413 `badRequest`:
    Nova's `overLimit` is its rate limit, and a client reads it as one."""

    def execute(self) -> None:
        error = self.request.error
        message = error.body if error.code != 413 else "The request body is larger than the server accepts."
        self.status = "%d %s" % (error.code, error.reason)
        self.response_headers.append(("Content-Type", "application/json; charset=UTF-8"))
        self.set_close_on_finish()
        data = _json_fault(error.code, message)
        self.content_length = len(data)
        self.write(data)


_STAND_IN = b"GET / HTTP/1.0\r\n"  # what waitress parses for a request whose head is over the limit


class StrictParser(HTTPRequestParser):
    """waitress's request parser, refusing (400) what a proxy in front may read otherwise: Content-Length and
    Transfer-Encoding together (waitress would follow the chunks, a proxy the length: a request hidden in the
    body), and an HTTP/1.1 request without exactly one Host header. An HTTP/1.1 client's error is answered
    as HTTP/1.1, and so is a request line over the limit (its version is past what was read). A chunk whose
    announced size alone is over the body limit is refused when its size line arrives, not after its bytes."""

    _seen = b""  # the start of the request's head, as it arrived

    def received(self, data: bytes) -> int:
        if self.body_rcv is None and len(self._seen) < 8192:
            self._seen += data[:8192]
        consumed = int(super().received(data))
        receiver = self.body_rcv
        if not self.completed and isinstance(receiver, ChunkedReceiver):  # type: ignore[has-type]
            limit = self.adj.max_request_body_size
            if self.body_bytes_received + receiver.chunk_remainder >= limit:
                self.error = RequestEntityTooLarge("exceeds max_body of %s" % limit)
                self.completed = True
        return consumed

    def parse_header(self, header_plus: bytes) -> None:
        if header_plus == _STAND_IN:  # the head was over the limit: the client's own line, as far as it came
            first = self._seen.split(b"\n", 1)[0].rstrip()
            http11 = not first.endswith(b"HTTP/1.0")
        else:
            first = header_plus.split(b"\n", 1)[0].rstrip()
            http11 = first.endswith(b"HTTP/1.1")
        rest = header_plus.partition(b"\n")[2]
        names = [line.split(b":", 1)[0].strip().lower() for line in rest.split(b"\n") if b":" in line]
        if http11:
            self.version = "1.1"
        if b"content-length" in names and b"transfer-encoding" in names:
            raise ParsingError("Content-Length and Transfer-Encoding together")
        if header_plus.split(b"\n", 1)[0].rstrip().endswith(b"HTTP/1.1") and names.count(b"host") != 1:
            raise ParsingError("an HTTP/1.1 request needs exactly one Host header")
        super().parse_header(header_plus)
        if http11:
            self.version = "1.1"
