"""The os-fping API as a WSGI application (WebOb): Nova's historical URLs, JSON and faults."""

import json
import logging
import re
import time
from typing import Any, Dict, List, Optional, Set

import webob

from nova_fping import policy as fping_policy
from nova_fping.fping import FpingProber, FpingUnavailable
from nova_fping.inventory import Server, valid_uuid
from nova_fping.ratelimit import RateLimiter, RateLimitUnavailable

ROUTE = re.compile(r"^/v2(?:\.1)?/(?P<project>[^/]+)/os-fping(?:/(?P<server>[^/]+))?/?$")
TRUE = ("1", "true", "yes", "on")
_FAULTS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    413: "overLimit",
    414: "badRequest",
    431: "badRequest",
    500: "computeFault",
    503: "serviceUnavailable",
}


LOG = logging.getLogger("nova-fping")
QUEUED_AT = "nova_fping.queued_at"  # set by the server (nova_fping.server): when the request was queued
COUNTS_ANYWAY = "nova_fping.counts_anyway"  # set by the app: a refusal that the rate limit counts
NOVA_RETRY_AFTER = 30  # seconds a client waits before asking again when Nova failed or took too long


def fault(status: int, message: str, retry_after: Optional[int] = None) -> webob.Response:
    body: Dict[str, object] = {"code": status, "message": message}
    if retry_after is not None:
        body["retryAfter"] = str(retry_after)
    response = webob.Response(status=status, content_type="application/json", charset="utf-8")
    response.text = json.dumps({_FAULTS.get(status, "computeFault"): body})
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def ok(body: dict) -> webob.Response:
    response = webob.Response(status=200, content_type="application/json", charset="utf-8")
    response.text = json.dumps(body)
    return response


def context_from(request: webob.Request, rules: fping_policy.Policy) -> Optional[fping_policy.RequestContext]:
    """The caller as the auth layer in front of us (keystonemiddleware, or the noauth filter) saw it."""
    if request.headers.get("X-Identity-Status") != "Confirmed":
        return None
    caller = rules.context(request.environ)
    return caller if caller.project_id else None


def project_of(caller: fping_policy.RequestContext) -> str:
    return caller.project_id or ""  # context_from() returns only callers with a project


class RateLimit:
    """The paste filter `ratelimit` (after the auth layer): an authenticated caller's call is counted against
    its project before it runs and given back when it is refused (4xx, 5xx) or its client hung up before the
    answer; beyond the limit, Nova's 413 with Retry-After. Without the filter, no limit."""

    def __init__(self, app: Any, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if environ.get("HTTP_X_IDENTITY_STATUS") != "Confirmed":
            return self.app(environ, start_response)  # the app answers 401
        project = environ.get("HTTP_X_PROJECT_ID") or environ.get("HTTP_X_TENANT_ID") or ""
        try:
            retry_after, reservation = self.limiter.reserve(project)
        except RateLimitUnavailable as exc:  # the shared count is unusable: no call can be counted, none made
            LOG.error("%s", exc)  # the file is the operator's to see, not the caller's
            return fault(503, "The rate limit cannot be counted right now.", retry_after=NOVA_RETRY_AFTER)(
                environ, start_response
            )
        if retry_after:
            return fault(413, "This request was rate-limited.", retry_after=retry_after)(environ, start_response)
        status: List[str] = []

        def starting(code: str, headers: list, exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        body = self.app(environ, starting)
        disconnected = environ.get("waitress.client_disconnected")
        refused = int((status or ["500"])[0].split()[0]) >= 400 and not environ.get(COUNTS_ANYWAY)
        if refused or (disconnected is not None and disconnected()):
            self.limiter.release(reservation)  # refused, or nobody took the answer: not a call
        return body


class FpingApi:
    def __init__(self, inventory: object, prober: FpingProber, rules: fping_policy.Policy) -> None:
        self.inventory = inventory
        self.prober = prober
        self.policy = rules

    def __call__(self, environ: dict, start_response: object) -> object:
        request = webob.Request(environ)
        try:
            response = self.handle(request)
        except UnicodeDecodeError:
            response = fault(400, "The URL or the query is not valid UTF-8")
        return response(environ, start_response)

    def handle(self, request: webob.Request) -> webob.Response:
        path, query = request.path_info, request.GET.dict_of_lists()
        match = ROUTE.match(path)
        if not match:
            return fault(404, "Unknown resource %s" % path)
        if request.method not in ("GET", "HEAD"):
            response = fault(405, "Method %s is not allowed" % request.method)
            response.headers["Allow"] = "GET, HEAD"
            return response
        context = context_from(request, self.policy)
        if context is None:
            return fault(401, "Authentication required")
        project = match.group("project")
        if project != project_of(context) and not context.is_admin:
            return fault(403, "Project %s does not match the caller's project" % project)
        late = self._too_late(request.environ)
        if late is not None:
            return late
        try:
            server_id = match.group("server")
            if server_id is not None:
                return self.show(context, server_id)
            return self.index(query, context, project)
        except FpingUnavailable as exc:
            if exc.busy:  # a call that waited for nothing: counted all the same, so that it is not free to repeat
                request.environ[COUNTS_ANYWAY] = True
            return fault(503, str(exc), retry_after=exc.retry_after)

    def _too_late(self, environ: dict) -> Optional[webob.Response]:
        """A 503 for a request that waited so long for a worker that its listing could not end within the
        request's deadline (the client's patience): answered at once, not after the client has gone."""
        queued = environ.get(QUEUED_AT)
        if queued is None:
            return None
        waited = time.monotonic() - queued
        listing = float(getattr(self.inventory, "deadline", 0.0))
        if waited + listing <= self.prober.request_timeout:
            return None
        LOG.warning("a request waited %.0fs for a worker: refused (503)", waited)
        return fault(503, "The server is busy: this request waited too long for a worker.", retry_after=5)

    def _servers(self, project: Optional[str]) -> List[Server]:
        try:
            return list(self.inventory.list(project))  # type: ignore[attr-defined]
        except Exception as exc:  # the source is remote (Nova): its failure is ours to report, not to crash
            LOG.warning("cannot list servers: %s", exc)  # the operator's log names Nova's URL; the caller's not
            raise FpingUnavailable("cannot list servers: %s" % _public(exc), retry_after=NOVA_RETRY_AFTER) from exc

    def _alive(self, servers: List[Server], caller: str) -> List[dict]:
        alive = self.prober.probe([a for s in servers for a in s.addresses], caller)
        return [
            {"id": s.id, "project_id": s.project_id, "alive": any(alive.get(a, False) for a in s.addresses)}
            for s in servers
        ]

    def index(self, query: Dict[str, List[str]], context: fping_policy.RequestContext, project: str) -> webob.Response:
        # as Nova's os-fping: a true value asks for every project (admin only by policy); anything else,
        # all_tenants=0 included, is the caller's own project, not an error
        all_tenants = (query.get("all_tenants") or [""])[-1].strip().lower() in TRUE
        rule = fping_policy.ALL_TENANTS if all_tenants else fping_policy.BASE
        if not self.policy.allowed(rule, context, project):
            return fault(403, "Policy doesn't allow %s to be performed." % rule)
        include = _ids(query, "include")
        exclude = _ids(query, "exclude")
        bad = sorted(i for i in (include | exclude) if not valid_uuid(i))
        if bad:
            return fault(400, "Invalid server id(s): %s" % ", ".join(bad))
        servers = self._servers(None if all_tenants else project)
        if include:
            servers = [s for s in servers if s.id in include]
        elif exclude:  # exclude is ignored when include is given, as in Nova
            servers = [s for s in servers if s.id not in exclude]
        return ok({"servers": self._alive(servers, project_of(context))})

    def show(self, context: fping_policy.RequestContext, server_id: str) -> webob.Response:
        if not valid_uuid(server_id):
            return fault(400, "Invalid server id: %s" % server_id)
        server_id = server_id.lower()
        try:
            server = self.inventory.get(server_id)  # type: ignore[attr-defined]
        except Exception as exc:
            LOG.warning("cannot look up server %s: %s", server_id, exc)
            raise FpingUnavailable("cannot look up server: %s" % _public(exc), retry_after=NOVA_RETRY_AFTER) from exc
        if server is None or not self.policy.allowed(fping_policy.BASE, context, server.project_id):
            return fault(404, "Server %s could not be found." % server_id)
        return ok({"server": self._alive([server], project_of(context))[0]})


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]+", re.IGNORECASE)


def _public(exc: BaseException) -> str:
    """An upstream's failure as the caller may read it: no URL of an internal endpoint."""
    return _URL.sub("(the compute endpoint)", str(exc)) or type(exc).__name__


def _ids(query: Dict[str, List[str]], name: str) -> Set[str]:
    return {part.strip().lower() for value in query.get(name, []) for part in value.split(",") if part.strip()}
