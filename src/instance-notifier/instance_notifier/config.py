"""instance-notifier's configuration (INI) and what it builds: the os-fping fetcher and the channels."""

import configparser
from typing import Any, Callable, Dict, List, Optional

from instance_notifier.channels import EmailChannel, LogChannel, WebhookChannel
from instance_notifier.state import Observation

DEFAULTS = {
    "DEFAULT": {
        # nova-fping-api allows 12 os-fping calls an hour per project by default, one every 300 s: 330 leaves
        # a call an hour for a restart or an operator's own call (a 413 is retried when the limit frees one)
        "interval": "330",
        "dead_after": "2",
        "state_file": "/var/lib/instance-notifier/state.json",
        "retry_base": "5",
        "retry_max": "600",
        "outbox_max": "10000",
    },
    "api": {
        "url": "http://127.0.0.1:8775/v2/admin",
        "auth": "keystone",
        # longer than nova-fping-api's [fping] request_timeout (60): a call the API still finishes (and counts)
        # is not given up on
        "timeout": "90",
        "project_id": "",
        "roles": "admin",
        "auth_url": "",
        "username": "",
        "password": "",
        "project_name": "",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "cafile": "",
    },
    "email": {
        "enabled": "false",
        "smtp_host": "localhost",
        "smtp_port": "25",
        "from": "instance-notifier@localhost",
        "timeout": "10",
    },
    "email_recipients": {},
    "webhook": {"url": "", "timeout": "10"},
}


class ConfigError(Exception):
    pass


class ApiUnavailable(Exception):
    """os-fping could not answer (unreachable, 5xx, rate limited): no news, try at the next poll, or when the
    rate limit frees a call (`retry_after`, its 413's Retry-After)."""

    def __init__(self, message: str, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Settings(object):
    def __init__(self, path: str) -> None:
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # project ids are case-sensitive
        parser.read_dict(DEFAULTS)
        try:
            with open(path, encoding="utf-8") as fd:
                parser.read_file(fd)
            self.interval = parser.getfloat("DEFAULT", "interval")
            self.dead_after = parser.getint("DEFAULT", "dead_after")
            self.retry_base = parser.getfloat("DEFAULT", "retry_base")
            self.retry_max = parser.getfloat("DEFAULT", "retry_max")
            self.outbox_max = parser.getint("DEFAULT", "outbox_max")
            self.email_timeout = parser.getfloat("email", "timeout")
            self.webhook_timeout = parser.getfloat("webhook", "timeout")
            self.email_enabled = parser.getboolean("email", "enabled")
        except (OSError, configparser.Error, ValueError) as exc:
            raise ConfigError("%s: %s" % (path, exc)) from exc
        if self.interval <= 0 or self.dead_after < 1:
            raise ConfigError("%s: interval must be > 0 and dead_after >= 1" % path)
        if not 1 <= self.outbox_max <= 1000000:
            raise ConfigError("%s: outbox_max must be 1 to 1000000, not %d" % (path, self.outbox_max))
        if not (0 < self.email_timeout <= 600 and 0 < self.webhook_timeout <= 600):
            raise ConfigError("%s: [email] and [webhook] timeout must be above 0 and at most 600 seconds" % path)
        self.state_file = parser.get("DEFAULT", "state_file")
        self.api = dict(parser.items("api"))
        self.email = dict(parser.items("email"))
        defaults = set(parser.defaults())
        self.recipients = {
            project: [a.strip() for a in value.split(",") if a.strip()]
            for project, value in parser.items("email_recipients")
            if project not in defaults
        }
        self.webhook = dict(parser.items("webhook"))

    def channels(self) -> List[object]:
        channels: List[object] = [LogChannel()]
        if self.email_enabled:
            channels.append(
                EmailChannel(
                    self.email["smtp_host"],
                    int(self.email["smtp_port"]),
                    self.email["from"],
                    self.recipients,
                    self.email_timeout,
                )
            )
        if self.webhook["url"]:
            try:
                channels.append(WebhookChannel(self.webhook["url"], self.webhook_timeout))
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        return channels

    def fetcher(self) -> Callable[[], List[Observation]]:
        """os-fping's all_tenants list, through python-novaclient and nova-fping's client extension."""
        import nova_fping.client
        from keystoneauth1 import loading, noauth, session
        from novaclient import client, extension

        api = self.api
        url = api["url"].rstrip("/")
        headers: Dict[str, str] = {}
        if api["auth"] == "noauth":
            if not api["project_id"]:
                raise ConfigError("[api] auth = noauth needs project_id")
            auth: Any = noauth.NoAuth(endpoint=url)
            headers = {"X-Project-Id": api["project_id"], "X-Roles": api["roles"]}
        elif api["auth"] == "keystone":
            auth = loading.get_plugin_loader("password").load_from_options(
                auth_url=api["auth_url"],
                username=api["username"],
                password=api["password"],
                project_name=api["project_name"],
                user_domain_name=api["user_domain_name"],
                project_domain_name=api["project_domain_name"],
            )
        else:
            raise ConfigError("[api] auth must be keystone or noauth, not %r" % api["auth"])
        sess = session.Session(
            auth=auth, verify=api["cafile"] or True, timeout=float(api["timeout"]), additional_headers=headers
        )
        nova = client.Client(
            "2.1", session=sess, endpoint_override=url, extensions=[extension.Extension("fping", nova_fping.client)]
        )

        def fetch() -> List[Observation]:
            try:
                return [Observation(f.id, f.project_id, bool(f.alive)) for f in nova.fping.list(all_tenants=True)]
            except Exception as exc:  # unreachable, 5xx, 413: all mean "no news this time"
                retry_after = getattr(exc, "retry_after", None) if getattr(exc, "code", None) == 413 else None
                try:
                    wait = float(retry_after) if retry_after else None
                except (TypeError, ValueError):
                    wait = None
                raise ApiUnavailable("%s: %s" % (type(exc).__name__, exc), wait) from exc

        return fetch
