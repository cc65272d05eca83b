"""Paste factories and the noauth filter.

Production: `authtoken` (keystonemiddleware) in front of the app; it validates the token and sets
X-Identity-Status, X-Project-Id and X-Roles, discarding what the client sent. Development (`--noauth`):
the noauth filter takes the project from X-Project-Id and the roles from X-Roles as the client sent
them, like Nova's noauth mode did. The app trusts only requests that one of them confirmed."""

from nova_fping import config


def app_factory(global_conf: dict, **local_conf: str):
    conf = config.load(local_conf.get("config") or global_conf.get("config"))
    return config.build_app(conf)


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
