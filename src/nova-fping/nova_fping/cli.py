"""nova-fping-api: serve the os-fping API with waitress, a production WSGI server.

nova-fping-api --config /etc/nova-fping/nova-fping.conf          (paste pipeline, keystone auth)
nova-fping-api --inventory FILE --listen 127.0.0.1:PORT --noauth (development, from flags alone)

waitress (packaged for EL as python3-waitress) reads requests in its own event loop and hands only
complete ones to a bounded pool of worker threads, so idle or slow clients hold no thread; it has a listen
backlog, a per-connection inactivity timeout (`client_timeout`), a bound on open connections, limits on
headers and body (answered in the API's JSON fault format), and stops gracefully on SIGTERM (requests in
flight finish within `shutdown_timeout`, else answer 503; no fping outlives it).
"""

import argparse
import logging
import os
import resource
import signal
import socket
import sys
import threading
from typing import Any, List, Optional, Tuple

from oslo_log import log as oslo_logging

from nova_fping import config
from nova_fping.api import RateLimit
from nova_fping.fping import stop_all as stop_fping
from nova_fping.inventory import stop_all as stop_nova
from nova_fping.server import make_server
from nova_fping.service import ServiceError, check_not_running, start_service
from nova_fping.shutdown import drain, stop_listening
from nova_fping.wsgi import NoAuthMiddleware, RequestLog


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "%s: %s" % (type(exc).__name__, " ".join(lines)[:300]) if lines else type(exc).__name__


def _listen(value: str) -> Tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host.strip("[]") or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError("--listen wants HOST:PORT with a port from 0 to 65535, got %r" % value)
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


def _parser() -> argparse.ArgumentParser:
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
    return parser


def _arguments(argv: Optional[List[str]]) -> argparse.Namespace:
    args = _parser().parse_args(argv)
    # --daemonize changes to / before serving: a relative path would then name another file
    for name in ("inventory", "fping", "pidfile", "log_file"):
        value = getattr(args, name)
        if value and (name != "fping" or os.sep in value):
            setattr(args, name, os.path.abspath(value))
    args.config_files = [os.path.abspath(p) for p in args.config_files]
    args.config_dirs = [os.path.abspath(p) for p in args.config_dirs]
    return args


def _application(args: argparse.Namespace, conf: Any) -> Any:
    """The WSGI application: the paste pipeline of the configuration, or the development one (--noauth)."""
    if args.noauth or not (args.config_files or args.config_dirs):
        if not args.noauth:
            raise config.ConfigError("without --config-file, only the development mode runs: add --noauth")
        return RequestLog(NoAuthMiddleware(RateLimit(config.build_app(conf), config.build_limiter(conf))))
    from paste.deploy import loadapp

    paste_conf = config.to_paste(args.config_files, args.config_dirs)
    paste_conf.update({"fping_path": args.fping, "inventory_file": args.inventory})
    try:
        return loadapp("config:" + conf.paste_config, name=conf.pipeline, global_conf=paste_conf)
    except config.ConfigError:
        raise
    except Exception as exc:  # whatever a filter's factory raises: the operator's file to fix
        raise config.ConfigError("%s, pipeline %s: %s" % (conf.paste_config, conf.pipeline, _one_line(exc))) from exc


def _prepared(args: argparse.Namespace) -> Tuple[Any, Any, Tuple[str, int]]:
    """(configuration, application, listen address), each checked: a problem is one exception."""
    conf = config.load(args.config_files, args.config_dirs)
    config.apply_overrides(conf, args.fping, args.inventory)
    oslo_logging.setup(conf, "nova-fping")  # [DEFAULT] log_file, debug, use_syslog, ... as OpenStack's
    logging.raiseExceptions = False  # a log that cannot be written (a full disk) is no traceback per record
    app = _application(args, conf)
    listen = args.listen or _listen(conf.listen)
    check_not_running(args.pidfile)
    check_open_files(conf)
    return conf, app, listen


def main(argv: Optional[List[str]] = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(format="nova-fping-api: %(levelname)s: %(message)s", level=logging.INFO)
    try:
        conf, app, listen = _prepared(args)
        if args.daemonize:
            _check_bindable(listen)  # waitress starts its threads when it binds: detach first, report now
            server = None
        else:
            server = make_server(app, listen, conf)
        startup = start_service(args.daemonize, args.pidfile, args.log_file)
    except (config.ConfigError, ServiceError, OSError, LookupError, ValueError, argparse.ArgumentTypeError) as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 1
    try:
        if server is None:
            server = make_server(app, listen, conf)
    except (OSError, ValueError) as exc:
        startup.fail(str(exc))  # the original process, still at the terminal, prints it
        return 1
    _handle_signals(server, conf)  # before anyone is told the service is ready
    try:
        startup.ready()
    except ServiceError as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 1
    sys.stderr.write("nova-fping-api listening on %s:%d\n" % (str(listen[0]), listen[1]))
    sys.stderr.flush()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        stop_fping()  # whatever still runs: no fping outlives the service
    return 0


def _stop_work() -> None:
    """At the end of the grace: every fping and every read from Nova still running ends (their requests
    answer 503 with Retry-After)."""
    stop_fping()
    stop_nova()


def _handle_signals(server: Any, conf: Any) -> None:
    stopping = threading.Event()

    def stop(*_: object) -> None:
        if not stopping.is_set():
            stopping.set()
            stop_listening(server)
            grace = float(conf.shutdown_timeout)
            threading.Thread(target=drain, args=(server, grace, _stop_work), daemon=True).start()

    def hangup(*_: object) -> None:  # the default would end the service without a word, its pid file left
        sys.stderr.write("nova-fping-api: SIGHUP ignored: restart the service to read its configuration\n")
        sys.stderr.flush()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, hangup)


if __name__ == "__main__":
    sys.exit(main())
