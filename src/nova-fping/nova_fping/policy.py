"""Policy rules, with oslo.policy: defaults in code, overridable by a policy file."""

import logging
import threading
from typing import Any, List, Optional

from oslo_config import cfg
from oslo_context import context
from oslo_policy import policy

from nova_fping.conf import ConfigError

LOG = logging.getLogger("nova-fping")

BASE = "os_compute_api:os-fping"
ALL_TENANTS = BASE + ":all_tenants"

RULES = [
    policy.RuleDefault("context_is_admin", "role:admin", description="The admin role."),
    policy.RuleDefault(
        "admin_or_owner",
        "rule:context_is_admin or project_id:%(project_id)s",
        description="Admin (context_is_admin), or a member of the project that owns the target.",
    ),
    policy.DocumentedRuleDefault(
        BASE,
        "rule:admin_or_owner",
        "Ping the servers of a project.",
        [{"method": "GET", "path": "/os-fping"}, {"method": "GET", "path": "/os-fping/{server_id}"}],
    ),
    policy.DocumentedRuleDefault(
        ALL_TENANTS,
        "rule:context_is_admin",
        "Ping the servers of every project.",
        [{"method": "GET", "path": "/os-fping?all_tenants=1"}],
    ),
]


def list_rules() -> List[policy.RuleDefault]:
    return RULES


class RequestContext(context.RequestContext):
    """The caller, as oslo.context reads it from the headers the auth layer set. `is_admin` is what the
    policy's `context_is_admin` rule says of the caller (as Nova's check_is_admin), never a role name."""

    def to_policy_values(self) -> Any:
        # `is_admin` for a policy file of Nova's era ("is_admin:True"); oslo.context warns when a rule reads it
        values = super().to_policy_values()
        values["is_admin"] = self.is_admin
        return values


class Policy:
    """The enforcer, whose rules are checked when they are read: a file that does not parse, or whose rules
    loop or name a rule that does not exist, is refused at start (one line naming the file) and, when the
    file changes under a running service, not taken (the rules in force stay, and the log says why)."""

    def __init__(self, policy_file: Optional[str] = None) -> None:
        self.policy_file = policy_file
        self.enforcer = get_enforcer(policy_file)
        self._lock = threading.Lock()
        try:
            self.enforcer.load_rules(force_reload=True)
        except Exception as exc:  # noqa: BLE001 - a YAML or JSON error of the operator's file
            raise ConfigError("%s: not a policy file: %s" % (policy_file, _one_line(exc))) from exc
        if not self.enforcer.check_rules(raise_on_violation=False):
            raise ConfigError("%s: its rules loop or name a rule that does not exist" % policy_file)
        self._rules = dict(self.enforcer.rules)

    def _checked(self) -> None:
        """The file's rules, read again if it changed, and taken only when they hold."""
        with self._lock:
            try:
                self.enforcer.load_rules()
                good = self.enforcer.check_rules(raise_on_violation=False)
            except Exception as exc:  # noqa: BLE001
                LOG.error("%s: not a policy file: %s; the rules in force stay", self.policy_file, _one_line(exc))
                good = False
            if good:
                self._rules = dict(self.enforcer.rules)
            elif dict(self.enforcer.rules) != self._rules:
                LOG.error("%s: its new rules loop or name a missing rule; the rules in force stay", self.policy_file)
                self.enforcer.set_rules(self._rules, overwrite=True, use_conf=True)

    def _enforce(self, rule: str, target: dict, caller: RequestContext) -> bool:
        self._checked()
        return bool(self.enforcer.enforce(rule, target, caller.to_policy_values(), do_raise=False))

    def context(self, environ: dict) -> RequestContext:
        caller = RequestContext.from_environ(environ, is_admin=False)
        caller.is_admin = self._enforce("context_is_admin", {}, caller)
        return caller

    def allowed(self, rule: str, caller: RequestContext, target_project: str) -> bool:
        return self._enforce(rule, {"project_id": target_project}, caller)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def get_enforcer(policy_file: Optional[str] = None) -> policy.Enforcer:
    """The enforcer with nova-fping's defaults: also the `oslo.policy.enforcer` entry point, through which
    oslopolicy-checker and oslopolicy-policy-generator see the rules as the service does."""
    conf = cfg.ConfigOpts()
    conf([], project="nova-fping", default_config_files=[], default_config_dirs=[])
    enforcer = policy.Enforcer(conf, policy_file=policy_file)
    enforcer.register_defaults(RULES)
    return enforcer
