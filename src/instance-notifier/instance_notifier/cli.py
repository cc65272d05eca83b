"""instance-notifier --config /etc/instance-notifier/instance-notifier.conf [--once]"""

import argparse
import logging
import sys
from typing import List, Optional

from nova_fping.service import ServiceError, start_service

from instance_notifier.config import ConfigError
from instance_notifier.daemon import Daemon


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="instance-notifier", description="Report instances that stop answering.")
    parser.add_argument("--config", default="/etc/instance-notifier/instance-notifier.conf")
    parser.add_argument("--once", action="store_true", help="poll once, deliver, and exit")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--daemonize", action="store_true", help="detach from the terminal (SysV init)")
    parser.add_argument("--pidfile", help="write the daemon's pid here once it runs")
    parser.add_argument("--log-file", help="with --daemonize: where its log goes (default: nowhere)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        daemon = Daemon(args.config)
        if not args.once:
            start_service(args.daemonize, args.pidfile, args.log_file).ready()
    except (ConfigError, ServiceError, OSError, ValueError) as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 1
    if args.once:
        daemon.poll()
        daemon.deliver()
        return 0
    daemon.install_signals()
    daemon.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
