"""keystonemiddleware's auth_token, as [filter:authtoken] of api-paste.ini configures it.

keystonemiddleware's own filter_factory knows only its own options: the auth plugin's (auth_url, username,
password, ...) work, but each is warned about at every start, as is every key of the paste file's global
section. Here the section's options are handed to it as an oslo.config object on which both its options
and those of the chosen auth plugin are registered: nothing is warned about, and a name that neither
knows (a typo) is refused at start, naming it.

Without `memcached_servers`, keystonemiddleware keeps the validated tokens in a dict that grows with every
distinct token for `token_cache_time` and is swept on every lookup. `token_cache_size` (ours) bounds it
instead: the least recently used token is forgotten first (it is only validated again)."""

import collections
import threading
import time
from typing import Any, Callable, Dict, Optional

ENVIRON_KEY = "nova_fping.token_cache"
GROUP = "keystone_authtoken"
DEFAULT_CACHE_SIZE = 10000
# The key keystonemiddleware's own factory would read from the paste file's global section, not options.
_NOT_OPTIONS = ("here", "__file__")


class TokenCache(object):
    """The subset of a memcache client that auth_token uses from the environ (get, set with a lifetime),
    bounded in entries. No __len__: auth_token takes an empty (false) cache for none."""

    def __init__(self, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.clock = clock
        self.lock = threading.Lock()
        self.entries: "collections.OrderedDict[str, Any]" = collections.OrderedDict()

    def get(self, key: str) -> Any:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires and self.clock() >= expires:
                del self.entries[key]
                return None
            self.entries.move_to_end(key)
            return value

    def set(self, key: str, value: Any, time: float = 0, min_compress_len: int = 0) -> bool:  # noqa: A002
        with self.lock:
            self.entries[key] = (self.clock() + time if time else 0, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return True


def _options(local_conf: Dict[str, str]) -> Any:
    from keystoneauth1 import loading
    from keystonemiddleware import auth_token
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf(args=[], project="nova-fping", default_config_files=[], default_config_dirs=[])
    for group, opts in auth_token.list_opts():
        conf.register_opts(opts, group=group)
    plugin = local_conf.get("auth_type")
    if plugin:
        try:
            conf.register_opts(loading.get_auth_plugin_conf_options(plugin), group=GROUP)
        except Exception as exc:  # keystoneauth1's NoMatchingPlugin and what its loaders raise
            raise ValueError("[filter:authtoken] auth_type = %s: %s" % (plugin, exc)) from exc
    known = set(conf[GROUP])
    for name, value in sorted(local_conf.items()):
        if name not in known:
            raise ValueError(
                "[filter:authtoken] %s: not an option of keystonemiddleware or of auth_type %s"
                % (name, plugin or "(none)")
            )
        try:
            conf.set_override(name, value, group=GROUP)
        except ValueError as exc:
            raise ValueError("[filter:authtoken] %s = %s: %s" % (name, value, exc)) from exc
    return conf


def _cache_size(local_conf: Dict[str, str]) -> int:
    text = local_conf.pop("token_cache_size", str(DEFAULT_CACHE_SIZE))
    try:
        size = int(text)
    except ValueError:
        size = -1
    if not 1 <= size <= 10000000:
        raise ValueError("[filter:authtoken] token_cache_size = %s: expected a whole number, 1 to 10000000" % text)
    return size


def filter_factory(global_conf: dict, **local_conf: str) -> Callable[[Any], Any]:
    from keystonemiddleware import auth_token

    section = {k: v for k, v in local_conf.items() if k not in _NOT_OPTIONS}
    size = _cache_size(section)
    cache: Optional[TokenCache] = None if section.get("memcached_servers") else TokenCache(size)
    if cache is not None:
        section["cache"] = ENVIRON_KEY
    conf = _options(section)

    def auth_filter(app: Any) -> Any:
        protocol = auth_token.AuthProtocol(app, {"oslo_config_config": conf})
        return protocol if cache is None else WithTokenCache(protocol, cache)

    return auth_filter


class WithTokenCache(object):
    """auth_token, finding its bounded cache in the environ (its `cache` option names the key)."""

    def __init__(self, protocol: Any, cache: TokenCache) -> None:
        self.protocol = protocol
        self.cache = cache

    def __call__(self, environ: dict, start_response: Any) -> Any:
        environ[ENVIRON_KEY] = self.cache
        return self.protocol(environ, start_response)
