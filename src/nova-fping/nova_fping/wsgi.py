"""Paste factories, the noauth filter, and `application` for mod_wsgi and uWSGI.

Production: `authtoken` (keystonemiddleware) in front of the app; it validates the token and sets
X-Identity-Status, X-Project-Id and X-Roles, discarding what the client sent. Development (`--noauth`):
the noauth filter takes the project from X-Project-Id and the roles from X-Roles as the client sent
them, like Nova's noauth mode did. The app trusts only requests that one of them confirmed."""

import logging
import os
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
    """In front of the whole pipeline, as Nova's FaultWrapper: what a middleware answers on its own in HTML
    (keystonemiddleware's 503 when keystone is down) becomes the API's JSON fault, and a 503 says when to
    ask again (Retry-After), as the API's own do."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        from nova_fping.api import NOVA_RETRY_AFTER, fault

        seen: dict = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            seen["status"], seen["headers"] = status, headers
            return lambda data: None  # a middleware that writes through the callable: not ours to wrap

        body = self.app(environ, capture)
        code = int(seen.get("status", "500").split()[0])
        content_type = dict((k.lower(), v) for k, v in seen.get("headers", [])).get("content-type", "")
        if code < 400 or "json" in content_type:
            start_response(seen["status"], seen["headers"])
            return body
        if hasattr(body, "close"):
            body.close()
        message = seen["status"].split(" ", 1)[1] if " " in seen["status"] else "Error"
        return fault(code, message, retry_after=NOVA_RETRY_AFTER if code == 503 else None)(environ, start_response)


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
            length = dict((k.lower(), v) for k, v in seen.get("headers", [])).get("content-length", "-")
            LOG.info(
                '"%s %s" status: %s len: %s time: %.3f',
                environ.get("REQUEST_METHOD", "-"),
                environ.get("PATH_INFO", "") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""),
                seen.get("status", "-").split(" ")[0],
                length,
                time.monotonic() - began,
            )


def ratelimit_filter_factory(global_conf: dict, **local_conf: str):
    from nova_fping.api import RateLimit

    limiter = config.build_limiter(config.from_paste(local_conf if local_conf.get("config") else global_conf))
    return lambda app: RateLimit(app, limiter)


def requestlog_filter_factory(global_conf: dict, **local_conf: str):
    return RequestLog


def faultwrap_filter_factory(global_conf: dict, **local_conf: str):
    return FaultWrapper
