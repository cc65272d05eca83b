"""nova-fping's options, with oslo.config as every OpenStack service has them: typed, bounded, documented,
listed for `oslo-config-generator --namespace nova_fping` (the `oslo.config.opts` entry point), read from
--config-file and --config-dir, with oslo.log's ([DEFAULT] debug, log_file, ...). An option the file sets
that nova-fping does not know is a warning, not silence (a typo would otherwise leave the default in force)."""

import configparser
import glob
import logging
import math
import os
from typing import List, Sequence, Tuple

from oslo_config import cfg
from oslo_log import log as oslo_logging

LOG = logging.getLogger("nova-fping")

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
NOVA_TIMEOUT = 10  # seconds for each call to keystone or Nova, unless [nova] timeout says otherwise


def keystoneauth_opts(auth_type: str = "password") -> List[cfg.Opt]:
    from keystoneauth1 import loading as ks_loading

    return (
        ks_loading.get_session_conf_options()
        + ks_loading.get_auth_common_conf_options()
        + ks_loading.get_auth_plugin_conf_options(auth_type)
        + ks_loading.get_adapter_conf_options()
    )


GROUPS: List[Tuple[str, List[cfg.Opt]]] = [
    ("DEFAULT", DEFAULT_OPTS),
    ("fping", FPING_OPTS),
    ("rate_limit", RATE_LIMIT_OPTS),
    ("policy", POLICY_OPTS),
    ("inventory", INVENTORY_OPTS),
    ("nova", NOVA_OPTS),
]


def list_opts() -> List[Tuple[str, List[cfg.Opt]]]:
    """For oslo-config-generator (the `oslo.config.opts` entry point)."""
    return [(group, list(opts) + (keystoneauth_opts() if group == "nova" else [])) for group, opts in GROUPS]


class ConfigError(Exception):
    pass


def load(config_files: Sequence[str] = (), config_dirs: Sequence[str] = ()) -> cfg.ConfigOpts:
    """The options of `config_files` and then the `*.conf` of each of `config_dirs` (later ones win), every
    value checked against its type and bounds now: a bad one is one error naming it, not a failure later."""
    conf = cfg.ConfigOpts()
    for group, opts in GROUPS:
        conf.register_opts(opts, group=None if group == "DEFAULT" else group)
    oslo_logging.register_options(conf)  # [DEFAULT] debug, log_file, log_dir, use_syslog, ...
    from keystoneauth1 import loading as ks_loading

    ks_loading.register_session_conf_options(conf, "nova")
    ks_loading.register_auth_conf_options(conf, "nova")
    ks_loading.register_adapter_conf_options(conf, "nova")
    conf.set_default("auth_type", "password", group="nova")
    conf.set_default("timeout", NOVA_TIMEOUT, group="nova")
    for path in config_files:
        if not os.path.isfile(path):
            raise ConfigError("%s: no such configuration file" % path)
    for path in config_dirs:
        if not os.path.isdir(path):
            raise ConfigError("%s: no such configuration directory" % path)
    try:
        conf(
            [],
            project="nova-fping",
            default_config_files=list(config_files),
            default_config_dirs=list(config_dirs),
            use_env=False,
        )
    except (cfg.Error, ValueError) as exc:
        raise ConfigError(str(exc).strip() or repr(exc)) from exc
    try:  # the auth plugin's own options (auth_url, username, ...), known once auth_type is
        plugin_opts = ks_loading.get_auth_plugin_conf_options(conf.nova.auth_type)
    except Exception as exc:  # keystoneauth1's NoMatchingPlugin: a typo in auth_type
        raise ConfigError("[nova] auth_type: %s" % exc) from exc
    conf.register_opts(plugin_opts, group="nova")
    for group, opts in GROUPS + [("nova", keystoneauth_opts(conf.nova.auth_type))]:
        section = conf if group == "DEFAULT" else conf[group]
        for opt in opts:
            try:
                getattr(section, opt.dest)
            except (cfg.Error, ValueError) as exc:
                why = str(exc).rpartition("is not valid: ")[2] or str(exc)
                raise ConfigError("[%s] %s: %s" % (group, opt.dest, why.strip())) from exc
    check_values(conf)
    for warning in unknown_options(files_of(config_files, config_dirs), conf.nova.auth_type):
        LOG.warning("%s", warning)
    return conf


def check_values(conf: cfg.ConfigOpts) -> None:
    """What oslo.config's bounds do not refuse: NaN and infinity pass every FloatOpt's min and max, listen
    is a string, and keystoneauth's timeout has no lower bound."""
    for group, opts in GROUPS:
        section = conf if group == "DEFAULT" else conf[group]
        for opt in opts:
            value = getattr(section, opt.dest)
            if isinstance(opt, cfg.FloatOpt) and not math.isfinite(value):
                raise ConfigError("[%s] %s: expected a finite number, found %r" % (group, opt.dest, value))
    host, _, port = conf.listen.rpartition(":")
    if not host.strip("[]") or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError("[DEFAULT] listen: expected HOST:PORT with a port from 1 to 65535, found %r" % conf.listen)
    timeout = conf.nova.timeout
    if timeout is not None and not (math.isfinite(float(timeout)) and 0 < float(timeout) <= 3600):
        raise ConfigError("[nova] timeout: expected seconds from 1 to 3600, found %r" % timeout)


def files_of(config_files: Sequence[str], config_dirs: Sequence[str]) -> List[str]:
    return list(config_files) + [f for d in config_dirs for f in sorted(glob.glob(os.path.join(d, "*.conf")))]


def unknown_options(paths: Sequence[str], auth_type: str = "password") -> List[str]:
    """Sections and keys of the files that nova-fping does not read."""
    known = {group: {opt.dest for opt in opts} for group, opts in GROUPS}
    known["nova"].update(opt.dest for opt in keystoneauth_opts(auth_type))
    for group, opts in oslo_logging_opts():
        known.setdefault(group, set()).update(opt.dest for opt in opts)
    found = []
    for path in paths:
        parser = configparser.RawConfigParser(default_section="\0none")
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error:
            continue  # oslo.config has said what is wrong with the file
        for section in parser.sections():
            if section not in known:
                found.append("%s: [%s] is not a section nova-fping reads: ignored" % (path, section))
                continue
            for key in parser.options(section):
                if key not in known[section]:
                    found.append("%s: [%s] %s is not an option nova-fping knows: ignored" % (path, section, key))
    return found


def oslo_logging_opts() -> List[Tuple[str, List[cfg.Opt]]]:
    from oslo_log import _options

    return [(group or "DEFAULT", list(opts)) for group, opts in _options.list_opts()]
