"""nova-fping-api: serve the os-fping API.

nova-fping-api --config /etc/nova-fping/nova-fping.conf          (paste pipeline, keystone auth)
nova-fping-api --inventory FILE --listen 127.0.0.1:PORT --noauth (development, from flags alone)
"""

import argparse
import signal
import socketserver
import sys
from typing import List, Optional
from wsgiref import simple_server

from nova_fping import config
from nova_fping.service import ServiceError, check_not_running, start_service
from nova_fping.wsgi import NoAuthMiddleware


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


def _listen(value: str):
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("--listen wants HOST:PORT, got %r" % value)
    return host.strip("[]"), int(port)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="nova-fping-api", description="Serve the os-fping API.")
    parser.add_argument("--config", help="configuration file (INI)")
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
    try:
        conf = config.load(args.config)
        if args.inventory:
            conf.set("inventory", "source", "static")
            conf.set("inventory", "file", args.inventory)
        if args.fping:
            conf.set("fping", "path", args.fping)
        if args.noauth or not args.config:
            if not args.noauth:
                raise config.ConfigError("without --config, only the development mode runs: add --noauth")
            app = NoAuthMiddleware(config.build_app(conf))
        else:
            from paste.deploy import loadapp

            app = loadapp(
                "config:" + conf.get("DEFAULT", "paste_config"),
                name=conf.get("DEFAULT", "pipeline"),
                global_conf={"config": args.config},
            )
        host, port = args.listen or _listen(conf.get("DEFAULT", "listen"))
        check_not_running(args.pidfile)
        server = simple_server.make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    except (config.ConfigError, ServiceError, OSError, LookupError, ValueError) as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    # listening first: a port in use or a bad config is reported on the terminal, before detaching
    start_service(args.daemonize, args.pidfile, args.log_file)
    host, port = server.server_address[:2]
    sys.stderr.write("nova-fping-api listening on %s:%d\n" % (str(host), port))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
