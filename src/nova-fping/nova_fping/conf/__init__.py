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

from nova_fping.conf.opts import (
    DEFAULT_OPTS,
    FPING_OPTS,
    INVENTORY_OPTS,
    NOVA_OPTS,
    NOVA_TIMEOUT,
    POLICY_OPTS,
    RATE_LIMIT_OPTS,
)

LOG = logging.getLogger("nova-fping")


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
