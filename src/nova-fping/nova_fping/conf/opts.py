"""The options of nova-fping's own groups, bounded and documented (nova_fping.conf lists and loads them)."""

from typing import List

from oslo_config import cfg

DEFAULT_OPTS = [
    cfg.StrOpt("listen", default="127.0.0.1:8775", help="HOST:PORT where nova-fping-api listens."),
    cfg.StrOpt("paste_config", default="/etc/nova-fping/api-paste.ini", help="The paste pipelines file."),
    cfg.StrOpt(
        "pipeline",
        default="main",
        help='The pipeline of paste_config to serve: "main" (keystone auth_token in front of the API) or '
        '"noauth" (development only).',
    ),
    cfg.IntOpt(
        "threads",
        default=96,
        min=1,
        max=10000,
        help="Worker threads of the WSGI server (waitress). Must exceed [fping] max_concurrent + max_waiting, "
        "so that a request beyond them is refused at once instead of waiting in the server's queue.",
    ),
    cfg.IntOpt(
        "backlog",
        default=4096,
        min=1,
        max=65535,
        help="Listen backlog of the server socket, as OpenStack's services set it (the kernel caps it at "
        "net.core.somaxconn). A short queue overflows in a burst of connections, and each connection beyond it "
        "waits a second or more for its SYN to be sent again.",
    ),
    cfg.IntOpt(
        "client_timeout",
        default=10,
        min=1,
        max=3600,
        help="Seconds before an inactive client is dropped, and that a whole request may take to arrive.",
    ),
    cfg.IntOpt("max_connections", default=1000, min=1, max=1000000, help="Open client connections at most."),
    cfg.IntOpt(
        "max_queued",
        default=32,
        min=0,
        max=100000,
        help="Complete requests that may wait for a busy worker thread; beyond, a request is answered 503 at "
        "once by the event loop instead of waiting in line to be refused.",
    ),
    cfg.IntOpt(
        "max_connections_per_address",
        default=100,
        min=0,
        max=1000000,
        help="Open connections from one client address at most; beyond, a connection is answered 503 and "
        "closed at once, so that one host's slow or idle connections cannot take every connection. 0: no "
        "bound (behind a proxy or load balancer, where every connection comes from its address).",
    ),
    cfg.IntOpt(
        "shutdown_timeout",
        default=30,
        min=0,
        max=3600,
        help="Seconds that requests in flight get to finish on SIGTERM; those still probing then answer 503.",
    ),
    cfg.IntOpt(
        "max_header_size", default=16384, min=1024, max=1048576, help="Bytes of request line and headers at most."
    ),
    cfg.IntOpt("max_body_size", default=65536, min=0, max=67108864, help="Bytes of request body at most."),
]

FPING_OPTS = [
    cfg.StrOpt("path", default="/usr/bin/fping", help="The fping program."),
    cfg.IntOpt(
        "timeout_ms",
        default=500,
        min=1,
        max=60000,
        help="Per-address timeout (ms). fping sends one ping every 10 ms across the addresses, so a request "
        "for N addresses that are all dead takes about (retries + 1) * (timeout + N * 10 ms).",
    ),
    cfg.IntOpt("retries", default=1, min=0, max=10, help="Retries per address (no back-off)."),
    cfg.IntOpt("max_concurrent", default=4, min=1, max=256, help="fping processes at once (fping loads the API node)."),
    cfg.IntOpt(
        "max_waiting", default=64, min=0, max=100000, help="Requests waiting for an fping (beyond: 503, Retry-After)."
    ),
    cfg.FloatOpt(
        "request_timeout",
        default=60.0,
        min=1.0,
        max=3600.0,
        help="Seconds a request may take in all, the Nova listing and the wait included (beyond: 503).",
    ),
]

RATE_LIMIT_OPTS = [
    cfg.IntOpt(
        "calls",
        default=12,
        min=0,
        max=1000000,
        help="os-fping calls per project per period; a refused call is free. 0: no limit.",
    ),
    cfg.FloatOpt("period", default=3600.0, min=1.0, max=31536000.0, help="The period of the rate limit (seconds)."),
    cfg.FloatOpt(
        "lock_timeout",
        default=2.0,
        min=0.01,
        max=60.0,
        help="Seconds a call waits for the shared state_file while another process holds it; beyond, a 503 "
        "with Retry-After (a stuck holder must not hold every request).",
    ),
    cfg.StrOpt(
        "state_file",
        default="",
        help="Empty: counted in the process. Under mod_wsgi or uWSGI with several worker processes, a file "
        "they share, e.g. /var/lib/nova-fping/ratelimit.sqlite.",
    ),
]

POLICY_OPTS: List[cfg.Opt] = [
    cfg.StrOpt("file", default="", help="Rules that override the defaults of the os-fping policy."),
]

INVENTORY_OPTS: List[cfg.Opt] = [
    cfg.StrOpt(
        "source",
        default="nova",
        choices=["nova", "static"],
        help="nova: servers from Nova's API; static: from a JSON file (development).",
    ),
    cfg.StrOpt("file", default="", help="The JSON inventory of source = static."),
]

# [nova] is keystoneauth1's, as every OpenStack service's client section: the auth plugin (auth_type, default
# password, and its options: auth_url, username, ...), the session (cafile, insecure, timeout, ...) and the
# adapter (endpoint_override, region_name, ...); with one option of ours
NOVA_OPTS: List[cfg.Opt] = [
    cfg.IntOpt(
        "max_pages",
        default=100,
        min=1,
        max=10000,
        help="Pages of 1,000 servers one listing may read: a looping Nova is a 503, not a request held for ever.",
    ),
]
NOVA_OPTS.append(
    cfg.IntOpt(
        "max_page_mib",
        default=16,
        min=1,
        max=1024,
        help="MiB of one page of Nova's answer at most (1,000 servers take a few): a larger one is a 503, read "
        "no further.",
    )
)
NOVA_OPTS.append(
    cfg.IntOpt(
        "max_list_mib",
        default=64,
        min=1,
        max=65536,
        help="MiB of all the pages of one listing together at most: a Nova that ignores `limit` or pages without "
        "end is a 503, not a request that holds the process's memory.",
    )
)
NOVA_OPTS.append(
    cfg.FloatOpt(
        "list_timeout",
        default=0.0,
        min=0.0,
        max=3600.0,
        help="Seconds one listing of servers may take in all, every page and every read of it (a Nova that "
        "drips its answer is a 503 then). 0: [nova] timeout. Never more than [fping] request_timeout.",
    )
)
NOVA_TIMEOUT = 10  # seconds for each call to keystone or Nova, unless [nova] timeout says otherwise
