"""Paste factories, the noauth filter, and `application` for mod_wsgi and uWSGI.

Production: `authtoken` (keystonemiddleware) in front of the app; it validates the token and sets
X-Identity-Status, X-Project-Id and X-Roles, discarding what the client sent. Development (`--noauth`):
the noauth filter takes the project from X-Project-Id and the roles from X-Roles as the client sent
them, like Nova's noauth mode did. The app trusts only requests that one of them confirmed."""

import json
import logging
import os
import re
import time
import uuid
from typing import Any

from oslo_context import context

from nova_fping import config

LOG = logging.getLogger("nova-fping.requests")


def app_factory(global_conf: dict, **local_conf: str):
    conf = config.from_paste(local_conf if local_conf.get("config") else global_conf)
    config.apply_overrides(conf, global_conf.get("fping_path"), global_conf.get("inventory_file"))
    return config.build_app(conf)


class _DeferredApplication:
    """`nova_fping.wsgi:application`: the paste pipeline of $NOVA_FPING_CONFIG (default
    /etc/nova-fping/nova-fping.conf), loaded by each worker process at its first request, as OpenStack
    services load theirs under mod_wsgi or uWSGI. Set `[rate_limit] state_file` there so that the
    worker processes share one count."""

    def __init__(self) -> None:
        self._app: Any = None

    def __call__(self, environ: dict, start_response):
        if self._app is None:
            from paste.deploy import loadapp

            path = os.environ.get("NOVA_FPING_CONFIG", "/etc/nova-fping/nova-fping.conf")
            conf = config.load([path])
            from oslo_log import log as oslo_logging

            oslo_logging.setup(conf, "nova-fping")
            self._app = loadapp(
                "config:" + conf.paste_config, name=conf.pipeline, global_conf=config.to_paste([path], [])
            )
        return self._app(environ, start_response)


application = _DeferredApplication()


class NoAuthMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response):
        if environ.get("HTTP_X_PROJECT_ID"):
            environ["HTTP_X_IDENTITY_STATUS"] = "Confirmed"
        else:
            environ.pop("HTTP_X_IDENTITY_STATUS", None)
        return self.app(environ, start_response)


def noauth_filter_factory(global_conf: dict, **local_conf: str):
    return NoAuthMiddleware


class FaultWrapper:
    """In front of the whole pipeline, as Nova's FaultWrapper. What a middleware answers on its own comes
    out in the API's JSON fault format (keystonemiddleware's HTML 503 when keystone is down, its JSON 401 of
    another shape), a 503 says when to ask again (Retry-After), and an exception raised inside the
    pipeline is one log line and a JSON fault, never a 500 with a traceback: a 503 with Retry-After when it
    came from keystone (hung, garbage, the wrong JSON), else a 500."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        from nova_fping.api import NOVA_RETRY_AFTER, fault

        seen: dict = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            seen["status"], seen["headers"] = status, headers
            return lambda data: None  # a middleware that writes through the callable: not ours to wrap

        try:
            body = self.app(environ, capture)
        except Exception as exc:  # noqa: BLE001 - whatever a middleware raises: one JSON fault
            from_keystone = _raised_by(exc, ("keystonemiddleware", "keystoneauth1", "keystoneclient"))
            LOG.error("%s: %s%s", type(exc).__name__, _one_line(exc), " (keystone)" if from_keystone else "")
            if from_keystone:
                message = "The identity service cannot be used right now."
                return fault(503, message, retry_after=NOVA_RETRY_AFTER)(environ, start_response)
            return fault(500, "An unexpected error; it is in the service's log.")(environ, start_response)
        code = int(seen.get("status", "500").split()[0])
        headers = seen.get("headers", [])
        content_type = {k.lower(): v for k, v in headers}.get("content-type", "")
        if code < 400:
            start_response(seen["status"], headers)
            return body
        data = b"".join(body) if "json" in content_type else b""
        if hasattr(body, "close"):
            body.close()
        if _ours(data):
            start_response(seen["status"], headers)
            return [data]
        message = _message_of(data) or (seen["status"].split(" ", 1)[1] if " " in seen["status"] else "Error")
        response = fault(code, message, retry_after=NOVA_RETRY_AFTER if code == 503 else None)
        for name, value in headers:  # what a client needs of the middleware's answer (keystone's URI)
            if name.lower() in ("www-authenticate", "retry-after"):
                response.headers[name] = value
        return response(environ, start_response)


def _ours(data: bytes) -> bool:
    """A body in the API's fault format ({"itemNotFound": {"code": ..., "message": ...}})."""
    try:
        document = json.loads(data.decode("utf-8")) if data else None
    except ValueError:
        return False
    from nova_fping.api import _FAULTS

    return isinstance(document, dict) and len(document) == 1 and next(iter(document)) in _FAULTS.values()


def _message_of(data: bytes) -> str:
    """The message of another JSON fault shape (keystonemiddleware's {"error": {"message": ...}})."""
    try:
        document = json.loads(data.decode("utf-8")) if data else None
    except ValueError:
        return ""
    inner = next(iter(document.values()), None) if isinstance(document, dict) and document else None
    message = inner.get("message") if isinstance(inner, dict) else None
    return str(message)[:200] if message else ""


def _raised_by(exc: BaseException, packages: tuple) -> bool:
    """Whether a frame of the exception's traceback is in one of `packages`."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.split(".")[0] in packages:
            return True
        tb = tb.tb_next
    return False


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


class RequestLog:
    """Outermost, as Nova's request log and oslo.middleware's request id: every request gets an id
    (`x-openstack-request-id`, and oslo.context's request_id inside, which oslo.log prints with every line
    of the request), and one log line when answered: method, path, status, length and seconds."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request_id = "req-" + str(uuid.uuid4())
        environ["openstack.request_id"] = request_id
        # this thread's current context (what oslo.log prints) is this request's from now on, not the one
        # of the thread's last request; the API's own, once it knows the caller, keeps the same id
        context.RequestContext(request_id=request_id, overwrite=True)
        began = time.monotonic()
        seen: dict = {}

        def starting(status: str, headers: list, exc_info: Any = None) -> Any:
            headers = list(headers) + [("x-openstack-request-id", request_id)]
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            return self.app(environ, starting)
        finally:
            length = {k.lower(): v for k, v in seen.get("headers", [])}.get("content-length", "-")
            target = environ.get("PATH_INFO", "") + (
                "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""
            )
            LOG.info(
                '"%s %s" status: %s len: %s time: %.3f',
                _loggable(environ.get("REQUEST_METHOD", "-")),
                _loggable(target),  # a client's path: a %0a in it must not write a line of its own
                seen.get("status", "-").split(" ")[0],
                length,
                time.monotonic() - began,
            )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\\\"]")


def _loggable(text: str) -> str:
    """What a client sent, as one log line may hold it: control characters (newline, CR, ESC), a backslash
    and a quote escaped (\\xNN), so that no client writes a line, a colour or a field of its own."""
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()), text)


def ratelimit_filter_factory(global_conf: dict, **local_conf: str):
    from nova_fping.api import RateLimit

    limiter = config.build_limiter(config.from_paste(local_conf if local_conf.get("config") else global_conf))
    return lambda app: RateLimit(app, limiter)


def requestlog_filter_factory(global_conf: dict, **local_conf: str):
    return RequestLog


def faultwrap_filter_factory(global_conf: dict, **local_conf: str):
    return FaultWrapper
