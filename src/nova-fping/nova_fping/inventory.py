"""Where servers come from: a static JSON inventory (development, tests) or Nova's REST API."""

import json
import socket
import threading
import time
import urllib.parse
import uuid
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Set

from nova_fping.fping import canonical


class Server(NamedTuple):
    id: str
    project_id: str
    addresses: List[str]


class InventoryError(ValueError):
    pass


def valid_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


class StaticInventory:
    """{"servers": [{"id": UUID, "project_id": STR, "addresses": [IP, ...]}, ...]}, read at each call so
    that an edited file takes effect without a restart."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._load()  # fail at start-up, not at the first request

    def _load(self) -> Dict[str, Server]:
        try:
            with open(self.path, encoding="utf-8") as fd:
                data = json.load(fd)
        except (OSError, ValueError) as exc:
            raise InventoryError("%s: not a server inventory: %s" % (self.path, exc)) from exc
        if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
            raise InventoryError('%s: expected {"servers": [...]}' % self.path)
        servers = {}
        for i, raw in enumerate(data["servers"]):
            where = "%s: servers[%d]" % (self.path, i)
            if not isinstance(raw, dict) or not valid_uuid(str(raw.get("id", ""))):
                raise InventoryError("%s: expected an object with a UUID id" % where)
            if not isinstance(raw.get("project_id"), str) or not raw["project_id"]:
                raise InventoryError("%s.project_id: expected a string" % where)
            addresses = raw.get("addresses", [])
            if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
                raise InventoryError("%s.addresses: expected a list of IP addresses" % where)
            try:
                canonical_addresses = [canonical(a) for a in addresses]
            except ValueError as exc:
                raise InventoryError("%s.addresses: %s" % (where, exc)) from exc
            servers[raw["id"].lower()] = Server(raw["id"].lower(), raw["project_id"], canonical_addresses)
        return servers

    def list(self, project_id: Optional[str]) -> List[Server]:
        return [s for s in self._load().values() if project_id is None or s.project_id == project_id]

    def get(self, server_id: str) -> Optional[Server]:
        return self._load().get(server_id.lower())


_STOPPING = threading.Event()
_READING: Set[Callable[[], None]] = set()  # how to end each read from Nova in progress
_READING_LOCK = threading.Lock()


def stop_all() -> None:
    """The service stops: every read from Nova in progress ends (its request answers 503), none starts."""
    _STOPPING.set()
    with _READING_LOCK:
        readers = list(_READING)
    for abort in readers:
        abort()


class NovaInventory:
    """Servers from Nova's API (`GET /servers/detail`) through a keystoneauth1 session: fixed and
    floating addresses of every network. Nova answers at most `max_limit` (1,000) servers a page with a
    `servers_links` "next" link: every page is read, asking with `limit` and `marker` as Nova documents.
    A page of more servers than asked for (a Nova that ignores `limit`) ends the listing, and the bytes of
    all its pages together are bounded (`max_list_bytes`), as are its time and its pages."""

    PAGE = 1000

    def __init__(
        self,
        session: object,
        endpoint_override: Optional[str] = None,
        timeout: float = 10.0,
        max_pages: int = 100,
        deadline: float = 60.0,
        max_page_bytes: int = 16 << 20,
        max_list_bytes: int = 64 << 20,
    ) -> None:
        self.session = session
        self.endpoint_filter = {"service_type": "compute", "interface": "internal"}
        self.endpoint_override = endpoint_override
        # each read from Nova, the bytes of a page, the pages of one listing and the listing as a whole (its
        # reads included: a Nova that drips its body) are bounded: a hung, looping or dripping Nova is a 503
        # for the caller, never a request that holds a thread for ever
        self.timeout, self.max_pages, self.deadline = timeout, max_pages, deadline
        self.max_page_bytes, self.max_list_bytes = max_page_bytes, max_list_bytes

    def _servers(self, query: Dict[str, str]) -> List[Server]:
        kwargs = (
            {"endpoint_override": self.endpoint_override}
            if self.endpoint_override
            else {"endpoint_filter": self.endpoint_filter}
        )
        servers: List[Server] = []
        marker = None
        seen: Set[str] = set()
        started = time.monotonic()
        budget = [self.max_list_bytes]  # what the listing's pages may still take
        for _ in range(self.max_pages):
            params = dict(query, all_tenants="1", limit=str(self.PAGE))
            if marker:
                params["marker"] = marker
            path = "/servers/detail?" + urllib.parse.urlencode(sorted(params.items()))
            data = self._page(path, kwargs, started + self.deadline, budget)
            page = data["servers"]
            if len(page) > self.PAGE:
                raise InventoryError(
                    "Nova answered %d servers for a page of %d: it ignores limit; read no further"
                    % (len(page), self.PAGE)
                )
            for raw in page:
                addresses = [a["addr"] for net in (raw.get("addresses") or {}).values() for a in net]
                servers.append(Server(raw["id"].lower(), raw["tenant_id"], [_usable(a) for a in addresses]))
            following = [link for link in data.get("servers_links") or [] if link.get("rel") == "next"]
            if not page or not following:
                return servers
            marker = page[-1]["id"]
            if marker in seen:
                raise InventoryError("Nova repeats its page ending with server %s: its listing does not end" % marker)
            seen.add(marker)
        raise InventoryError("Nova listed more than %d pages of %d servers" % (self.max_pages, self.PAGE))

    def _page(self, path: str, kwargs: Mapping[str, object], deadline: float, budget: List[int]) -> dict:
        """One page of Nova's answer, read within the listing's deadline, the page's byte bound and what is
        left of the listing's (`budget`, taken from)."""
        if _STOPPING.is_set():
            raise InventoryError("the service is stopping")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise InventoryError("Nova took longer than %gs to list the servers" % self.deadline)
        response = self.session.get(  # type: ignore[attr-defined]
            path, timeout=min(self.timeout, remaining), stream=True, raise_exc=False, log=False, **kwargs
        )
        try:
            if response.status_code >= 400:
                raise InventoryError("Nova answered HTTP %d" % response.status_code)
            limit = min(self.max_page_bytes, budget[0])
            what = "page" if limit == self.max_page_bytes else "listing"
            bound = self.max_page_bytes if what == "page" else self.max_list_bytes
            body = _read_bounded(response, deadline, limit, self.deadline, "Nova's %s is over %d bytes" % (what, bound))
            budget[0] -= len(body)
        finally:
            response.close()
        try:
            data = json.loads(body.decode("utf-8"))
        except ValueError as exc:
            raise InventoryError("Nova's answer is not JSON: %s" % exc) from exc
        if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
            raise InventoryError("Nova's answer has no list of servers")
        return data

    def list(self, project_id: Optional[str]) -> List[Server]:
        return self._servers({} if project_id is None else {"project_id": project_id})

    def get(self, server_id: str) -> Optional[Server]:
        wanted = server_id.lower()
        for server in self._servers({"uuid": wanted}):
            if server.id == wanted:
                return server
        return None


def _read_bounded(response: object, deadline: float, limit: int, seconds: float, over: str) -> bytes:
    """The body of a streamed `requests` response, at most `limit` bytes, its last byte by `deadline`: a
    read waits until its chunk is full, so a timer shuts the connection at the deadline (urllib3's
    shutdown(), made for that) and the read it interrupts fails; stop_all() shuts it the same way."""
    raw = response.raw  # type: ignore[attr-defined]
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        stop = getattr(raw, "shutdown", None)  # urllib3 2.3; older ones: the connection's socket
        if stop is not None:
            stop()
        else:
            sock = getattr(getattr(raw, "_connection", None), "sock", None)
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
    timer.daemon = True
    timer.start()
    with _READING_LOCK:
        _READING.add(expire)
    chunks: List[bytes] = []
    size = 0
    try:
        for chunk in raw.stream(65536, decode_content=True):
            size += len(chunk)
            if size > limit:
                raise InventoryError("%s: read no further" % over)
            chunks.append(chunk)
    except InventoryError:
        raise
    except Exception as exc:  # the read the timer interrupted, or a connection that broke
        if _STOPPING.is_set():
            raise InventoryError("the service is stopping") from exc
        if expired.is_set():
            raise InventoryError("Nova took longer than %gs to list the servers" % seconds) from exc
        raise InventoryError("Nova's answer broke off: %s" % type(exc).__name__) from exc
    finally:
        timer.cancel()
        with _READING_LOCK:
            _READING.discard(expire)
    if _STOPPING.is_set():
        raise InventoryError("the service is stopping")
    if expired.is_set():
        raise InventoryError("Nova took longer than %gs to list the servers" % seconds)
    return b"".join(chunks)


def _usable(address: str) -> str:
    try:
        return canonical(address)
    except ValueError:
        return address  # fping reports it unusable and the server is judged by its other addresses
