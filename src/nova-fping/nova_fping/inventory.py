"""Where servers come from: a static JSON inventory (development, tests) or Nova's REST API."""

import json
import uuid
from typing import Dict, List, NamedTuple, Optional

from nova_fping.fping import canonical


class Server(NamedTuple):
    id: str
    project_id: str
    addresses: List[str]


class InventoryError(Exception):
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
            servers = {}
            for i, raw in enumerate(data["servers"]):
                if not valid_uuid(str(raw.get("id", ""))):
                    raise InventoryError("%s: servers[%d].id %r is not a UUID" % (self.path, i, raw.get("id")))
                addresses = [canonical(a) for a in raw.get("addresses", [])]
                servers[raw["id"].lower()] = Server(raw["id"].lower(), str(raw["project_id"]), addresses)
            return servers
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InventoryError("%s: not a server inventory: %s" % (self.path, exc)) from exc

    def list(self, project_id: Optional[str]) -> List[Server]:
        return [s for s in self._load().values() if project_id is None or s.project_id == project_id]

    def get(self, server_id: str) -> Optional[Server]:
        return self._load().get(server_id.lower())


class NovaInventory:
    """Servers from Nova's API (`GET /servers/detail`) through a keystoneauth1 session: fixed and
    floating addresses of every network."""

    def __init__(self, session: object, endpoint_override: Optional[str] = None) -> None:
        self.session = session
        self.endpoint_filter = {"service_type": "compute", "interface": "internal"}
        self.endpoint_override = endpoint_override

    def _servers(self, query: str) -> List[Server]:
        kwargs = (
            {"endpoint_override": self.endpoint_override}
            if self.endpoint_override
            else {"endpoint_filter": self.endpoint_filter}
        )
        response = self.session.get("/servers/detail" + query, **kwargs)  # type: ignore[attr-defined]
        servers = []
        for raw in response.json()["servers"]:
            addresses = [a["addr"] for net in (raw.get("addresses") or {}).values() for a in net]
            servers.append(Server(raw["id"], raw["tenant_id"], [canonical(a) for a in addresses]))
        return servers

    def list(self, project_id: Optional[str]) -> List[Server]:
        if project_id is None:
            return self._servers("?all_tenants=1")
        return self._servers("?all_tenants=1&project_id=" + project_id)

    def get(self, server_id: str) -> Optional[Server]:
        for server in self._servers("?all_tenants=1&uuid=" + server_id):
            if server.id == server_id:
                return server
        return None
