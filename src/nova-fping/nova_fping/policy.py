"""Policy rules, with oslo.policy: defaults in code, overridable by a policy file."""

from typing import List, Optional

from oslo_config import cfg
from oslo_policy import policy

BASE = "os_compute_api:os-fping"
ALL_TENANTS = BASE + ":all_tenants"

RULES = [
    policy.RuleDefault("context_is_admin", "role:admin", description="The admin role."),
    policy.RuleDefault(
        "admin_or_owner",
        "is_admin:True or project_id:%(project_id)s",
        description="Admin, or a member of the project that owns the target.",
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


class Context:
    def __init__(self, project_id: str, roles: List[str]) -> None:
        self.project_id = project_id
        self.roles = [r.strip().lower() for r in roles if r.strip()]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def credentials(self) -> dict:
        return {"project_id": self.project_id, "roles": self.roles, "is_admin": self.is_admin}


class Policy:
    def __init__(self, policy_file: Optional[str] = None) -> None:
        conf = cfg.ConfigOpts()
        conf([], project="nova-fping", default_config_files=[], default_config_dirs=[])
        self.enforcer = policy.Enforcer(conf, policy_file=policy_file)
        self.enforcer.register_defaults(RULES)
        if policy_file:
            self.enforcer.load_rules(force_reload=True)

    def allowed(self, rule: str, context: Context, target_project: str) -> bool:
        return bool(self.enforcer.enforce(rule, {"project_id": target_project}, context.credentials()))
