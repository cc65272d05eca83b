"""nova-fping-api: serve the os-fping API with waitress, a production WSGI server.

nova-fping-api --config /etc/nova-fping/nova-fping.conf          (paste pipeline, keystone auth)
nova-fping-api --inventory FILE --listen 127.0.0.1:PORT --noauth (development, from flags alone)

waitress (packaged for EL as python3-waitress) reads requests in its own event loop and hands only
complete ones to a bounded pool of worker threads, so idle or slow clients hold no thread; it has a listen
backlog, a per-connection inactivity timeout (`client_timeout`), a bound on open connections, limits on
headers and body (answered in the API's JSON fault format), and stops gracefully on SIGTERM (requests in
flight finish within `shutdown_timeout`, else answer 503; no fping outlives it).
"""

import _thread
import argparse
import json
import logging
import os
import resource
import signal
import socket
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import waitress
from oslo_log import log as oslo_logging
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.task import ErrorTask

from nova_fping import config
from nova_fping.api import RateLimit
from nova_fping.fping import stop_all as stop_fping
from nova_fping.service import ServiceError, check_not_running, start_service
from nova_fping.wsgi import NoAuthMiddleware, RequestLog

_FAULT_KEYS = {400: "badRequest", 408: "badRequest", 413: "overLimit", 414: "badRequest", 431: "badRequest",
               500: "computeFault", 503: "serviceUnavailable"}  # fmt: skip


class _JsonErrorTask(ErrorTask):
    """What waitress itself refuses (headers or body over the limit, a malformed request) answered in the
    API's JSON fault format instead of waitress's plain text."""

    def execute(self) -> None:
        error = self.request.error
        body = json.dumps({_FAULT_KEYS.get(error.code, "computeFault"): {"code": error.code, "message": error.body}})
        self.status = "%d %s" % (error.code, error.reason)
        self.response_headers.append(("Content-Type", "application/json; charset=UTF-8"))
        self.set_close_on_finish()
        data = body.encode("utf-8")
        self.content_length = len(data)
        self.write(data)


class _StrictParser(HTTPRequestParser):
    """waitress's request parser, refusing (400) what a proxy in front may read otherwise: Content-Length and
    Transfer-Encoding together (waitress would follow the chunks, a proxy the length: a request hidden in the
    body), and an HTTP/1.1 request without exactly one Host header."""

    def parse_header(self, header_plus: bytes) -> None:
        first, _, rest = header_plus.partition(b"\n")
        names = [line.split(b":", 1)[0].strip().lower() for line in rest.split(b"\n") if b":" in line]
        if b"content-length" in names and b"transfer-encoding" in names:
            raise ParsingError("Content-Length and Transfer-Encoding together")
        if first.rstrip().endswith(b"HTTP/1.1") and names.count(b"host") != 1:
            raise ParsingError("an HTTP/1.1 request needs exactly one Host header")
        super().parse_header(header_plus)


class _Channel(HTTPChannel):
    """waitress's channel, with a deadline for a whole request: waitress's `channel_timeout` counts only
    inactivity, so a client that sends one header line every few seconds (slowloris) would hold its
    connection, and enough of them every connection, for ever."""

    error_task_class = _JsonErrorTask
    parser_class = _StrictParser
    request_seconds = 10.0  # the configuration's client_timeout
    per_address = 0  # the configuration's max_connections_per_address (0: no bound)
    stopping = False  # set on SIGTERM
    _started = 0.0
    _address: Optional[str] = None

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
_REFUSAL = json.dumps(
    {"serviceUnavailable": {"code": 503, "message": "Too many connections from this address.", "retryAfter": "5"}}
).encode("utf-8")


def _refuse(sock: socket.socket) -> None:
    """One short 503 (it fits any socket buffer: no wait) and the connection closed."""
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=UTF-8\r\n"
        "Retry-After: 5\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(_REFUSAL)
    )
    try:
        sock.setblocking(False)
        sock.send(head.encode("ascii") + _REFUSAL)
    except OSError:
        pass
    finally:
        sock.close()


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "%s: %s" % (type(exc).__name__, " ".join(lines)[:300]) if lines else type(exc).__name__


def _listen(value: str) -> Tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("--listen wants HOST:PORT, got %r" % value)
    return host.strip("[]"), int(port)


def _check_bindable(listen: Tuple[str, int]) -> None:
    family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(listen)


def check_open_files(conf: Any) -> None:
    """Every connection is a file descriptor: with fewer than max_connections + threads + a margin, the
    server would fail every accept with "Too many open files" instead of refusing politely. The soft limit is
    raised to what is needed (up to the hard limit); beyond that, one line says what to change."""
    need = conf.max_connections + conf.threads + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        if raised < need:
            raise ServiceError(
                "max_connections = %d needs about %d open files, and the limit is %d (ulimit -n): raise it "
                "(LimitNOFILE, /etc/security/limits.conf) or lower max_connections"
                % (conf.max_connections, need, raised)
            )


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
    )
    server.channel_class = type(
        "Channel",
        (_Channel,),
        {"request_seconds": float(conf.client_timeout), "per_address": conf.max_connections_per_address},
    )
    return server


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="nova-fping-api", description="Serve the os-fping API.")
    parser.add_argument(
        "--config-file",
        "--config",
        dest="config_files",
        action="append",
        default=[],
        metavar="PATH",
        help="configuration file (INI); repeatable, later ones win (--config: the same)",
    )
    parser.add_argument(
        "--config-dir",
        dest="config_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help="directory whose *.conf files are read after --config-file, in name order",
    )
    parser.add_argument("--inventory", help="static JSON inventory of servers (instead of Nova)")
    parser.add_argument("--listen", type=_listen, help="HOST:PORT (default from the config, 127.0.0.1:8775)")
    parser.add_argument(
        "--noauth", action="store_true", help="development: trust X-Project-Id and X-Roles from the client, no keystone"
    )
    parser.add_argument("--fping", help="path of fping (default /usr/bin/fping)")
    parser.add_argument("--daemonize", action="store_true", help="detach from the terminal (SysV init)")
    parser.add_argument("--pidfile", help="write the service's pid here once it listens")
    parser.add_argument("--log-file", help="with --daemonize: where its output goes (default: nowhere)")
    args = parser.parse_args(argv)
    # --daemonize changes to / before serving: a relative path would then name another file
    for name in ("inventory", "fping", "pidfile", "log_file"):
        value = getattr(args, name)
        if value and (name != "fping" or os.sep in value):
            setattr(args, name, os.path.abspath(value))
    args.config_files = [os.path.abspath(p) for p in args.config_files]
    args.config_dirs = [os.path.abspath(p) for p in args.config_dirs]
    logging.basicConfig(format="nova-fping-api: %(levelname)s: %(message)s", level=logging.INFO)
    try:
        conf = config.load(args.config_files, args.config_dirs)
        config.apply_overrides(conf, args.fping, args.inventory)
        oslo_logging.setup(conf, "nova-fping")  # [DEFAULT] log_file, debug, use_syslog, ... as OpenStack's
        configured = args.config_files or args.config_dirs
        if args.noauth or not configured:
            if not args.noauth:
                raise config.ConfigError("without --config-file, only the development mode runs: add --noauth")
            app: Any = RequestLog(NoAuthMiddleware(RateLimit(config.build_app(conf), config.build_limiter(conf))))
        else:
            from paste.deploy import loadapp

            paste_conf = config.to_paste(args.config_files, args.config_dirs)
            paste_conf.update({"fping_path": args.fping, "inventory_file": args.inventory})
            try:
                app = loadapp("config:" + conf.paste_config, name=conf.pipeline, global_conf=paste_conf)
            except config.ConfigError:
                raise
            except Exception as exc:  # whatever a filter's factory raises: the operator's file to fix
                raise config.ConfigError(
                    "%s, pipeline %s: %s" % (conf.paste_config, conf.pipeline, _one_line(exc))
                ) from exc
        listen = args.listen or _listen(conf.listen)
        check_not_running(args.pidfile)
        check_open_files(conf)
        if args.daemonize:
            _check_bindable(listen)  # waitress starts its threads when it binds: detach first, report now
        else:
            server = make_server(app, listen, conf)
    except (config.ConfigError, ServiceError, OSError, LookupError, ValueError) as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 1
    try:
        startup = start_service(args.daemonize, args.pidfile, args.log_file)
    except (ServiceError, OSError) as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 1
    try:
        if args.daemonize:
            server = make_server(app, listen, conf)
    except (OSError, ValueError) as exc:
        startup.fail(str(exc))  # the original process, still at the terminal, prints it
        return 1
    try:
        startup.ready()
    except ServiceError as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 1
    host, port = listen
    sys.stderr.write("nova-fping-api listening on %s:%d\n" % (str(host), port))
    sys.stderr.flush()

    def stop(*_: object) -> None:
        if not stopping.is_set():
            stopping.set()
            _stop_listening(server)
            threading.Thread(target=_drain, args=(server, float(conf.shutdown_timeout)), daemon=True).start()

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, stop)

    def hangup(*_: object) -> None:  # the default would end the service without a word, its pid file left
        sys.stderr.write("nova-fping-api: SIGHUP ignored: restart the service to read its configuration\n")
        sys.stderr.flush()

    signal.signal(signal.SIGHUP, hangup)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        stop_fping()  # whatever still runs: no fping outlives the service
    return 0


def _stop_listening(server: Any) -> None:
    """No new connection, and a kept-alive one closes instead of taking another request; the trigger stays,
    so that the requests in flight still wake the loop to send their answers. The listening socket is closed
    by the loop itself when it next asks whether to poll it: closed here, in the signal handler, it would
    still be in the select() the signal interrupted, which Python retries (EBADF)."""
    server.channel_class.stopping = True

    def closing() -> bool:
        wasyncore.dispatcher.close(server)
        return False

    server.readable = closing


def _busy(server: Any) -> bool:
    return any(channel.requests for channel in list(server.active_channels.values()))


def _close_idle(server: Any) -> None:
    for channel in list(server.active_channels.values()):
        if not channel.requests:
            channel.will_close = True  # the loop closes it at its next turn
    server.pull_trigger()


def _drain(server: Any, grace: float) -> None:
    """SIGTERM: the requests in flight get `shutdown_timeout` to finish; those still probing then end with a
    503 (their fping stopped); then the loop ends. Every accepted request is answered, none cut off."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _busy(server):
        _close_idle(server)
        time.sleep(0.1)
    if _busy(server):
        stop_fping()
        last = time.monotonic() + 5.0
        while time.monotonic() < last and _busy(server):
            _close_idle(server)
            time.sleep(0.1)
    _close_idle(server)
    time.sleep(0.2)  # the loop's turn to send what the last answers wrote
    _thread.interrupt_main()


if __name__ == "__main__":
    sys.exit(main())
