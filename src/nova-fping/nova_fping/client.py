"""python-novaclient extension for os-fping:

from novaclient import client, extension
import nova_fping.client
nova = client.Client("2.1", session=sess, extensions=[extension.Extension("fping", nova_fping.client)])
nova.fping.list(all_tenants=True, include=[...]) ; nova.fping.get(server_id)
"""

from typing import Iterable, List
from urllib.parse import urlencode

from novaclient import base


class Fping(base.Resource):
    """A server's liveness: id, project_id, alive."""

    def __repr__(self) -> str:
        return "<Fping: %s alive=%s>" % (getattr(self, "id", "?"), getattr(self, "alive", "?"))


class FpingManager(base.Manager):
    resource_class = Fping

    def list(self, all_tenants: bool = False, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> List[Fping]:
        query = []
        if all_tenants:
            query.append(("all_tenants", "1"))
        include = [base.getid(s) for s in include]
        exclude = [base.getid(s) for s in exclude]
        if include:
            query.append(("include", ",".join(include)))
        elif exclude:
            query.append(("exclude", ",".join(exclude)))
        url = "/os-fping" + ("?" + urlencode(query) if query else "")
        return self._list(url, "servers")

    def get(self, server) -> Fping:
        return self._get("/os-fping/%s" % base.getid(server), "server")
