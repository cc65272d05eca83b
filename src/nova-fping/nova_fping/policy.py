"""Policy rules, with oslo.policy: defaults in code, overridable by a policy file."""

from typing import Any, List, Optional

from oslo_config import cfg
from oslo_context import context
from oslo_policy import policy

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
    def __init__(self, policy_file: Optional[str] = None) -> None:
        self.enforcer = get_enforcer(policy_file)
        if policy_file:
            self.enforcer.load_rules(force_reload=True)

    def context(self, environ: dict) -> RequestContext:
        caller = RequestContext.from_environ(environ, is_admin=False)
        caller.is_admin = bool(self.enforcer.enforce("context_is_admin", {}, caller.to_policy_values()))
        return caller

    def allowed(self, rule: str, caller: RequestContext, target_project: str) -> bool:
        return bool(self.enforcer.enforce(rule, {"project_id": target_project}, caller.to_policy_values()))


def get_enforcer(policy_file: Optional[str] = None) -> policy.Enforcer:
    """The enforcer with nova-fping's defaults: also the `oslo.policy.enforcer` entry point, through which
    oslopolicy-checker and oslopolicy-policy-generator see the rules as the service does."""
    conf = cfg.ConfigOpts()
    conf([], project="nova-fping", default_config_files=[], default_config_dirs=[])
    enforcer = policy.Enforcer(conf, policy_file=policy_file)
    enforcer.register_defaults(RULES)
    return enforcer
