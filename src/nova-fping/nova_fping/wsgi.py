"""Paste factories, the noauth filter, and `application` for mod_wsgi and uWSGI.

Production: `authtoken` (keystonemiddleware) in front of the app; it validates the token and sets
X-Identity-Status, X-Project-Id and X-Roles, discarding what the client sent. Development (`--noauth`):
the noauth filter takes the project from X-Project-Id and the roles from X-Roles as the client sent
them, like Nova's noauth mode did. The app trusts only requests that one of them confirmed."""

import os
from typing import Any

from nova_fping import config


def app_factory(global_conf: dict, **local_conf: str):
    conf = config.load(local_conf.get("config") or global_conf.get("config"))
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
            conf = config.load(path)
            self._app = loadapp(
                "config:" + conf.get("DEFAULT", "paste_config"),
                name=conf.get("DEFAULT", "pipeline"),
                global_conf={"config": path},
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
