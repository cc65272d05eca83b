"""The build root of a Koji build, from the hub's own listing: kojid reports every package its mock root held
(`setBuildRootList`), which the hub gives back as `listBuildroots(taskID=…)` of the build's arch tasks and
`listRPMs(componentBuildrootID=…)`. Each package is named by NEVRA with rpm's digest (Koji's `payloadhash`,
the SIGMD5 that mock's `installed_pkgs.log` gives too) and the repository it came from: the build tag's, or
the external repository Koji names."""

from __future__ import annotations

from typing import Any

from altai_release.builders.builder import RootPackage
from altai_release.builders.kojihub import KojiHub

MAX_ROOT = 5000  # packages of one build root (the manifest's bound)


def _nevra(rpm: dict[str, Any]) -> str:
    epoch = f"{rpm['epoch']}:" if rpm.get("epoch") not in (None, "", 0) else ""
    return f"{rpm['name']}-{epoch}{rpm['version']}-{rpm['release']}.{rpm['arch']}"


def hub_build_root(hub: KojiHub, session: Any, task_id: int) -> tuple[RootPackage, ...]:
    """Every package of the roots the build task's arch tasks ran in, as the hub lists them."""
    children = hub.call(f"list the subtasks of task {task_id}", session.getTaskChildren, task_id)
    found: dict[str, RootPackage] = {}
    for child in [c for c in children if c.get("method") == "buildArch"]:
        for root in hub.call(f"list the build roots of task {child['id']}", session.listBuildroots, taskID=child["id"]):
            rpms = hub.call(f"list build root {root['id']}", session.listRPMs, componentBuildrootID=root["id"])
            for rpm in rpms[:MAX_ROOT]:
                where = rpm.get("external_repo_name") or root.get("tag_name") or "koji"
                repository = f"{where} (koji)" if where != "INTERNAL" else f"{root.get('tag_name')} (koji)"
                package = RootPackage(_nevra(rpm), str(rpm.get("payloadhash") or ""), repository)
                found.setdefault(package.nevra, package)
    return tuple(sorted(found.values(), key=lambda p: p.nevra))
