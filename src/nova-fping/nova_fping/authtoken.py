"""keystonemiddleware's auth_token, as [filter:authtoken] of api-paste.ini configures it.

keystonemiddleware's own filter_factory knows only its own options: the auth plugin's (auth_url, username,
password, ...) work, but each is warned about at every start, as is every key of the paste file's global
section. Here the section's options are handed to it as an oslo.config object on which both its options
and those of the chosen auth plugin are registered: nothing is warned about, and a name that neither
knows (a typo) is refused at start, naming it.

Without `memcached_servers`, keystonemiddleware keeps the validated tokens in a dict that grows with every
distinct token for `token_cache_time` and is swept on every lookup. `token_cache_size` and `token_cache_mib`
(ours) bound it in entries and in bytes instead: the least recently used token is forgotten first (it is
only validated again), and an expired one as soon as a newer one is kept. In production, several processes
or a large cloud, use memcached (`memcached_servers`), as keystonemiddleware recommends.

`max_validations` (ours) bounds the tokens validated against keystone at once: beyond it, a token not in the
cache is answered 503 with Retry-After at once, so that a slow keystone and one client with random tokens
cannot take every worker thread, while cached tokens and tokenless requests are still answered."""

import collections
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

ENVIRON_KEY = "nova_fping.token_cache"
GROUP = "keystone_authtoken"
DEFAULT_CACHE_SIZE = 10000
DEFAULT_CACHE_MIB = 16  # a token with a real catalog is ~40 KB: ~400 of them (memcached for more)
DEFAULT_VALIDATIONS = 16
# The key keystonemiddleware's own factory would read from the paste file's global section, not options.
_NOT_OPTIONS = ("here", "__file__")


class TokenCache(object):
    """The subset of a memcache client that auth_token uses from the environ (get, set with a lifetime),
    bounded in entries and bytes, expired entries forgotten as newer ones come. No __len__: auth_token takes
    an empty (false) cache for none."""

    def __init__(self, size: int, clock: Callable[[], float] = time.monotonic, max_bytes: int = 16 << 20) -> None:
        self.size, self.max_bytes = size, max_bytes
        self.clock = clock
        self.lock = threading.Lock()
        self.entries: "collections.OrderedDict[str, Tuple[float, Any, int]]" = collections.OrderedDict()
        self.bytes = 0
        # (expiry, key) in the order entries were set: expiries come in that order for one lifetime
        self.expiries: "collections.deque[Tuple[float, str]]" = collections.deque()

    def get(self, key: str) -> Any:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            expires, value, _ = entry
            if expires and self.clock() >= expires:
                self._forget(key)
                return None
            self.entries.move_to_end(key)
            return value

    def set(self, key: str, value: Any, time: float = 0, min_compress_len: int = 0) -> bool:  # noqa: A002
        cost = _cost(key, value)
        with self.lock:
            now = self.clock()
            if key in self.entries:
                self._forget(key)
            expires = now + time if time else 0
            self.entries[key] = (expires, value, cost)
            self.bytes += cost
            if expires:
                self.expiries.append((expires, key))
            while self.expiries and (self.expiries[0][0] <= now or len(self.expiries) > 2 * self.size):
                when, old = self.expiries.popleft()
                entry = self.entries.get(old)
                if entry is not None and entry[0] == when and when <= now:
                    self._forget(old)
            while self.entries and (len(self.entries) > self.size or self.bytes > self.max_bytes):
                self._forget(next(iter(self.entries)))
        return True

    def _forget(self, key: str) -> None:
        _, _, cost = self.entries.pop(key)
        self.bytes -= cost


def _cost(key: str, value: Any) -> int:
    """What an entry holds, about: auth_token stores its token data serialized (a string or bytes)."""
    size = len(value) if isinstance(value, (str, bytes)) else len(repr(value))
    return len(key) + size + 200


class BoundedValidations(object):
    """How many tokens are validated against keystone at once, at most (a non-blocking semaphore)."""

    def __init__(self, bound: int) -> None:
        self.slots = threading.BoundedSemaphore(bound)
        self.bound = bound

    def protocol(self, app: Any, conf: Any) -> Any:
        from keystonemiddleware import auth_token
        from webob import exc as webob_exc

        slots = self.slots

        class Protocol(auth_token.AuthProtocol):
            def fetch_token(self, token: str, **kwargs: Any) -> Any:
                if self._token_cache.get(token):
                    return super().fetch_token(token, **kwargs)
                if not slots.acquire(blocking=False):
                    self.log.warning("token validations at their bound: a token not in the cache refused (503)")
                    raise webob_exc.HTTPServiceUnavailable("Too many tokens are being validated; try again shortly.")
                try:
                    return super().fetch_token(token, **kwargs)
                finally:
                    slots.release()

        return Protocol(app, {"oslo_config_config": conf})


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


def _whole(local_conf: Dict[str, str], name: str, default: int, top: int) -> int:
    """One of our own options of the section, taken out of it (keystonemiddleware does not know it)."""
    text = local_conf.pop(name, str(default))
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= top:
        raise ValueError("[filter:authtoken] %s = %s: expected a whole number, 1 to %d" % (name, text, top))
    return value


def filter_factory(global_conf: dict, **local_conf: str) -> Callable[[Any], Any]:
    section = {k: v for k, v in local_conf.items() if k not in _NOT_OPTIONS}
    size = _whole(section, "token_cache_size", DEFAULT_CACHE_SIZE, 10000000)
    mib = _whole(section, "token_cache_mib", DEFAULT_CACHE_MIB, 65536)
    validations = BoundedValidations(_whole(section, "max_validations", DEFAULT_VALIDATIONS, 10000))
    cache: Optional[TokenCache] = None
    if not section.get("memcached_servers"):
        cache = TokenCache(size, max_bytes=mib << 20)
        section["cache"] = ENVIRON_KEY
    conf = _options(section)

    def auth_filter(app: Any) -> Any:
        protocol = validations.protocol(app, conf)
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
