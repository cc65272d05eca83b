"""Waiting for a build in the build tag's repository, as `koji wait-repo --build NVR` waits: what a dependent's
build needs before it is submitted."""

from __future__ import annotations

import logging
from typing import Any

from altai_release.builders.builder import BuildJob
from altai_release.builders.kojihub import KojiHub
from altai_release.rpm.nevra import Nevra

log = logging.getLogger(__name__)


def wait_repo(hub: KojiHub, session: Any, job: BuildJob, source: Nevra, build_tag: str) -> None:
    """Until the build tag's repository has this build, as `koji wait-repo --build NVR` waits."""
    nvr = f"{source.name}-{source.version}-{source.release}"
    needs = "needs" if len(job.dependents) == 1 else "need"
    log.info(
        "%s: waiting for %s in the %s repo (%s %s it)",
        job.package.name,
        nvr,
        build_tag,
        ", ".join(job.dependents),
        needs,
    )
    watcher = hub.koji.util.RepoWatcher(session, build_tag, nvrs=[nvr])
    watcher.PAUSE = hub.settings.poll_interval
    watcher.TIMEOUT = hub.settings.wait_repo_minutes
    repo = hub.call(f"wait for {nvr} in the {build_tag} repo", watcher.waitrepo)
    log.info("%s: %s is in repo %s of %s", job.package.name, nvr, repo["id"], build_tag)
