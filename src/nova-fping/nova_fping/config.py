"""nova-fping's configuration file (INI) and what it builds: the inventory, the prober, policy, limiter."""

import configparser
import os
from typing import Any, Optional

from nova_fping.fping import FpingGate, FpingProber
from nova_fping.inventory import NovaInventory, StaticInventory
from nova_fping.policy import Policy
from nova_fping.ratelimit import RateLimiter

DEFAULTS = {
    "DEFAULT": {
        "listen": "127.0.0.1:8775",
        "paste_config": "/etc/nova-fping/api-paste.ini",
        "pipeline": "main",
        "threads": "96",
        "backlog": "128",
        "client_timeout": "10",
        "max_connections": "1000",
        "shutdown_timeout": "30",
        "max_header_size": "16384",
        "max_body_size": "65536",
    },
    "fping": {
        "path": "/usr/bin/fping",
        "timeout_ms": "500",
        "retries": "1",
        "max_concurrent": "4",
        "max_waiting": "64",
        "request_timeout": "60",
    },
    "rate_limit": {"calls": "12", "period": "3600", "state_file": ""},
    "policy": {"file": ""},
    "inventory": {"source": "nova", "file": ""},
    "nova": {
        "auth_url": "",
        "username": "",
        "password": "",
        "project_name": "",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "endpoint_override": "",
        "cafile": "",
        "timeout": "10",
        "max_pages": "100",
    },
}


class ConfigError(Exception):
    pass


def load(path: Optional[str] = None) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(DEFAULTS)
    if path:
        try:
            with open(path, encoding="utf-8") as fd:
                parser.read_file(fd)
        except (OSError, configparser.Error) as exc:
            raise ConfigError("%s: %s" % (path, exc)) from exc
    return parser


def apply_overrides(conf: configparser.ConfigParser, fping: Optional[str], inventory: Optional[str]) -> None:
    """Command-line flags win over the file (also through the paste pipeline, see wsgi.app_factory)."""
    if inventory:
        conf.set("inventory", "source", "static")
        conf.set("inventory", "file", inventory)
    if fping:
        conf.set("fping", "path", fping)


def build_app(conf: configparser.ConfigParser):
    from nova_fping.api import FpingApi

    try:
        gate = FpingGate(conf.getint("fping", "max_concurrent"), conf.getint("fping", "max_waiting"))
        prober = FpingProber(
            conf.get("fping", "path"),
            conf.getint("fping", "timeout_ms"),
            conf.getint("fping", "retries"),
            gate,
            conf.getfloat("fping", "request_timeout"),
        )
        limiter = RateLimiter(
            conf.getint("rate_limit", "calls"),
            conf.getfloat("rate_limit", "period"),
            state_file=conf.get("rate_limit", "state_file") or None,
        )
    except ValueError as exc:
        raise ConfigError("bad number in the configuration: %s" % exc) from exc
    threads, bound = conf.getint("DEFAULT", "threads"), gate.max_concurrent + gate.max_waiting
    if threads <= bound:
        # a request beyond the fping bound must reach the gate to be refused at once, not wait in the
        # server's queue until the client gives up
        raise ConfigError(
            "[DEFAULT] threads = %d must exceed [fping] max_concurrent + max_waiting = %d" % (threads, bound)
        )
    policy_file = conf.get("policy", "file") or None
    if policy_file and not os.path.isfile(policy_file):
        raise ConfigError("[policy] file %s does not exist" % policy_file)
    rules = Policy(policy_file)
    return FpingApi(build_inventory(conf), prober, rules, limiter)


def build_inventory(conf: configparser.ConfigParser) -> object:
    source = conf.get("inventory", "source")
    if source == "static":
        if not conf.get("inventory", "file"):
            raise ConfigError("[inventory] source = static needs file = PATH")
        return StaticInventory(conf.get("inventory", "file"))
    if source == "nova":
        from keystoneauth1 import loading, session

        nova = dict(conf.items("nova"))
        loader: Any = loading.get_plugin_loader("password")
        auth = loader.load_from_options(
            auth_url=nova["auth_url"],
            username=nova["username"],
            password=nova["password"],
            project_name=nova["project_name"],
            user_domain_name=nova["user_domain_name"],
            project_domain_name=nova["project_domain_name"],
        )
        try:
            timeout, pages = float(nova["timeout"]), int(nova["max_pages"])
            deadline = conf.getfloat("fping", "request_timeout")
        except ValueError as exc:
            raise ConfigError("bad number in [nova]: %s" % exc) from exc
        # the session's timeout bounds keystone's token requests as well as Nova's answers
        sess = session.Session(auth=auth, verify=nova["cafile"] or True, timeout=timeout)
        return NovaInventory(sess, nova["endpoint_override"] or None, timeout, pages, deadline)
    raise ConfigError("[inventory] source must be static or nova, not %r" % source)
