"""What nova-fping's configuration (nova_fping.conf) builds: the inventory, the prober, policy, limiter."""

import logging
import os
from typing import Any, Dict, Optional, Sequence, Tuple

from nova_fping.conf import ConfigError, load
from nova_fping.conf.opts import NOVA_TIMEOUT
from nova_fping.fping import FpingGate, FpingProber
from nova_fping.inventory import NovaInventory, StaticInventory
from nova_fping.policy import Policy
from nova_fping.ratelimit import RateLimiter

__all__ = ["ConfigError", "apply_overrides", "build_app", "build_inventory", "from_paste", "load", "to_paste"]


def apply_overrides(conf: Any, fping: Optional[str], inventory: Optional[str]) -> None:
    """Command-line flags win over the file (also through the paste pipeline, see wsgi.app_factory)."""
    if inventory:
        conf.set_override("source", "static", group="inventory")
        conf.set_override("file", inventory, group="inventory")
    if fping:
        conf.set_override("path", fping, group="fping")


def to_paste(config_files: Sequence[str], config_dirs: Sequence[str]) -> Dict[str, Optional[str]]:
    """The configuration's files as paste's global_conf carries them to app_factory (strings only)."""
    # None, not "": keystonemiddleware, which sees paste's global_conf too, says nothing of a None
    return {"config": os.pathsep.join(config_files), "config_dir": os.pathsep.join(config_dirs) or None}


_LOADED: Dict[Tuple[str, str], Any] = {}


def from_paste(conf: dict) -> Any:
    """The configuration a paste factory names, read once for the app and its filters alike."""
    files, dirs = (conf.get(k) or "" for k in ("config", "config_dir"))
    if (files, dirs) not in _LOADED:
        _LOADED[files, dirs] = load([f for f in files.split(os.pathsep) if f], [d for d in dirs.split(os.pathsep) if d])
    return _LOADED[files, dirs]


def build_app(conf: Any) -> Any:
    from nova_fping.api import FpingApi

    # urllib3 warns "Connection pool is full, discarding connection" for every connection beyond its pool
    # (10) that Nova or keystone calls opened at once: a line per request under load, nothing to act on
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

    gate = FpingGate(conf.fping.max_concurrent, conf.fping.max_waiting)
    prober = FpingProber(conf.fping.path, conf.fping.timeout_ms, conf.fping.retries, gate, conf.fping.request_timeout)
    threads, bound = conf.threads, gate.max_concurrent + gate.max_waiting
    if threads <= bound:
        # a request beyond the fping bound must reach the gate to be refused at once, not wait in the
        # server's queue until the client gives up
        raise ConfigError(
            "[DEFAULT] threads = %d must exceed [fping] max_concurrent + max_waiting = %d" % (threads, bound)
        )
    policy_file = conf.policy.file or None
    if policy_file and not os.path.isfile(policy_file):
        raise ConfigError("[policy] file %s does not exist" % policy_file)
    rules = Policy(policy_file)
    return FpingApi(build_inventory(conf), prober, rules)


def build_limiter(conf: Any) -> RateLimiter:
    limits = conf.rate_limit
    shared = limits.state_file or None
    return RateLimiter(limits.calls, limits.period, state_file=shared, lock_timeout=limits.lock_timeout)


def build_inventory(conf: Any) -> object:
    if conf.inventory.source == "static":
        if not conf.inventory.file:
            raise ConfigError("[inventory] source = static needs file = PATH")
        return StaticInventory(conf.inventory.file)
    from keystoneauth1 import loading

    # keystoneauth's own loaders, as OpenStack services load their clients: the plugin of [nova] auth_type,
    # a session whose timeout bounds keystone's token requests as well as Nova's answers
    auth = loading.load_auth_from_conf_options(conf, "nova")
    sess = loading.load_session_from_conf_options(conf, "nova", auth=auth)
    nova = conf.nova
    timeout = nova.timeout or NOVA_TIMEOUT
    listing = min(nova.list_timeout or timeout, conf.fping.request_timeout)
    return NovaInventory(
        sess,
        nova.endpoint_override or None,
        timeout,
        nova.max_pages,
        listing,
        nova.max_page_mib << 20,
        nova.max_list_mib << 20,
    )
