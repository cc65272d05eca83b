"""The WSGI server of nova-fping-api: waitress (packaged for EL as python3-waitress), with what a service in
front of untrusted clients needs beyond its defaults.

- poll(), not select(): the service raises its open-file limit, and select() ends the process at the first
  descriptor above 1024 (`asyncore_use_poll`);
- a deadline for a whole request (waitress's `channel_timeout` counts inactivity only: a client dribbling a
  header every few seconds would hold its connection for ever);
- a bound on connections per client address, refused with a 503 (never a bare reset);
- requests beyond what the worker threads can take are refused at once from the event loop (503), instead
  of waiting in waitress's queue to be refused by a worker;
- a request without a token (keystone pipelines) runs in two threads of its own: its 401 never waits behind
  requests that wait for Nova or keystone;
- each request carries the time it was queued (QUEUED_AT), so that the API refuses one that cannot finish
  within the client's patience any more;
- a client that half-closes its connection (it sent its request, then shut down its side) is answered;
- what waitress refuses itself answered in the API's JSON fault format, as HTTP/1.1 to an HTTP/1.1 client;
- SIGTERM: see `shutdown`.

The classes below override methods of waitress's channel, parser and tasks: `requirements` pins the
waitress releases they were checked with, and a test checks that every overridden method still exists."""

import logging
import socket
import threading
import time
from typing import Any, Dict, Optional, Tuple

import waitress
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask

from nova_fping.api import QUEUED_AT
from nova_fping.http_parsing import JsonErrorTask, StrictParser, raw_response

# what these classes override of waitress's: a release that renamed one must fail a test, not run unguarded
OVERRIDDEN = {
    HTTPChannel: ("__init__", "del_channel", "received", "handle_read", "readable", "service"),
    HTTPRequestParser: ("parse_header", "received"),
    ErrorTask: ("execute",),
    WSGITask: ("get_environment",),
}
TOKENLESS_THREADS = 2


class _AddressCount:
    """Open connections per client address (the event loop accepts and closes; a lock all the same)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: Dict[str, int] = {}

    def take(self, address: str, bound: int) -> bool:
        with self.lock:
            if self.open.get(address, 0) >= bound:
                return False
            self.open[address] = self.open.get(address, 0) + 1
            return True

    def give_back(self, address: str) -> None:
        with self.lock:
            left = self.open.get(address, 1) - 1
            if left > 0:
                self.open[address] = left
            else:
                self.open.pop(address, None)


_ADDRESSES = _AddressCount()
_TOO_MANY = raw_response(503, "Service Unavailable", "Too many connections from this address.", 5)
_BUSY = raw_response(503, "Service Unavailable", "The server is busy; try again shortly.", 5)


def _refuse(sock: socket.socket) -> None:
    """One short 503 (it fits any socket buffer: no wait), our side shut down, and what the client sent
    so far read and dropped before the close (a close with unread data is a reset, which loses the 503)."""
    try:
        sock.setblocking(False)
        sock.send(_TOO_MANY)
        sock.shutdown(socket.SHUT_WR)
        for _ in range(16):
            if not sock.recv(65536):
                break
    except OSError:
        pass
    finally:
        sock.close()


class _Task(WSGITask):
    """waitress's task, its environ saying when the request was queued for a worker."""

    def get_environment(self) -> Dict[str, Any]:
        environ: Dict[str, Any] = super().get_environment()
        environ.setdefault(QUEUED_AT, getattr(self.channel, "queued_at", None) or time.monotonic())
        return environ


class _Channel(HTTPChannel):
    """waitress's channel with a request deadline, the per-address bound, half-close and the stop."""

    error_task_class = JsonErrorTask
    task_class = _Task
    parser_class = StrictParser
    queued_at = 0.0
    request_seconds = 10.0  # the configuration's client_timeout
    per_address = 0  # the configuration's max_connections_per_address (0: no bound)
    stopping = False  # set on SIGTERM
    _started = 0.0
    _address: Optional[str] = None
    _read_closed = False  # the client half-closed: its requests are answered, then the connection closes

    def __init__(self, server: Any, sock: socket.socket, addr: Any, adj: Any, map: Any = None) -> None:
        address = str(addr[0]) if isinstance(addr, tuple) else str(addr)
        if self.per_address and not _ADDRESSES.take(address, self.per_address):
            _refuse(sock)  # never joins the event loop: the server drops this object
            return
        self._address = address
        super().__init__(server, sock, addr, adj, map)

    def del_channel(self, map: Any = None) -> None:
        if self._address is not None:
            _ADDRESSES.give_back(self._address)
            self._address = None
        super().del_channel(map)

    def handle_read(self) -> None:
        """As waitress's, but the end of the client's data while its request is answered is a half-close:
        the answer still goes out, then the connection closes (a reset is a hang-up)."""
        try:
            data = self.socket.recv(self.adj.recv_bytes)
        except OSError:
            self.handle_close()
            return
        if data:
            self.last_activity = time.time()
            self.received(data)
        elif self.requests:
            self._read_closed = True  # no more reading; closed once the answers are written (service)
        else:
            self.handle_close()

    def readable(self) -> bool:
        return not self._read_closed and bool(super().readable())

    def service(self) -> None:
        super().service()
        if self._read_closed and not self.requests:
            with self.requests_lock:
                self.close_when_flushed = True
            self.server.pull_trigger()

    def received(self, data: bytes) -> bool:
        if self.stopping and self.request is None and not self.requests:
            self.will_close = True  # the service stops: a kept-alive connection takes no new request
            return False
        now = time.monotonic()
        if self.request is None:
            self._started = now
        elif not self.request.completed and now - self._started > self.request_seconds:
            self.will_close = True  # the request took longer than a whole request may: the connection goes
            return False
        return bool(super().received(data))

    def refuse_busy(self) -> None:
        """Answered from the event loop: a 503 at once, not a place in the queue of the worker threads.
        Called from received(), which holds requests_lock."""
        self.requests.clear()
        self.write_soon(_BUSY)
        self.will_close = True
        self.server.pull_trigger()


def _tokenless(channel: Any) -> bool:
    """Whether the channel's next request carries no token (its answer is keystonemiddleware's 401)."""
    request = channel.requests[0] if channel.requests else None
    headers = getattr(request, "headers", None) or {}
    return not getattr(request, "error", None) and not (headers.get("X_AUTH_TOKEN") or headers.get("X_STORAGE_TOKEN"))


class _Server:
    """The server's own hooks: refuse what the worker threads cannot take (beyond `max_queued` waiting), and
    answer a tokenless request in threads of its own."""

    @staticmethod
    def install(server: Any, max_queued: int, tokenless_apart: bool = False) -> None:
        dispatcher = server.task_dispatcher
        enqueue = server.add_task
        apart: Optional[ThreadedTaskDispatcher] = None
        if tokenless_apart:
            apart = ThreadedTaskDispatcher()
            apart.set_thread_count(TOKENLESS_THREADS)
            server.tokenless_dispatcher = apart

        def add_task(channel: Any) -> None:
            if isinstance(channel, _Channel):
                channel.queued_at = time.monotonic()
            if apart is not None and isinstance(channel, _Channel) and _tokenless(channel):
                with apart.lock:
                    waiting = len(apart.queue)
                if waiting < max(1, max_queued):
                    apart.add_task(channel)
                    return
            with dispatcher.lock:
                idle = len(dispatcher.threads) - dispatcher.stop_count - dispatcher.active_count
                waiting = len(dispatcher.queue) - idle
            if waiting >= max_queued and isinstance(channel, _Channel) and threading.current_thread() is _MAIN:
                channel.refuse_busy()
            else:
                enqueue(channel)

        server.add_task = add_task


_MAIN = threading.main_thread()


def make_server(app: Any, listen: Tuple[str, int], conf: Any) -> Any:
    server = waitress.create_server(
        app,
        host=listen[0],
        port=listen[1],
        threads=conf.threads,
        backlog=conf.backlog,
        channel_timeout=conf.client_timeout,
        cleanup_interval=max(1, conf.client_timeout // 2),
        connection_limit=conf.max_connections,
        max_request_header_size=conf.max_header_size,
        max_request_body_size=conf.max_body_size,
        ident="nova-fping",
        # the loop keeps reading a connection whose request runs: a client that hangs up is seen, and its
        # call given back (waitress.client_disconnected)
        channel_request_lookahead=1,
        expose_tracebacks=False,
        asyncore_use_poll=True,  # select() ends the process at the first descriptor above 1024
    )
    # waitress warns of every task that waits for a thread; the queue is bounded here (max_queued)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server.channel_class = type(
        "Channel",
        (_Channel,),
        {"request_seconds": float(conf.client_timeout), "per_address": conf.max_connections_per_address},
    )
    # under keystone, a request without a token is answered by keystonemiddleware alone: in threads apart
    _Server.install(server, conf.max_queued, tokenless_apart=conf.pipeline != "noauth")
    return server
