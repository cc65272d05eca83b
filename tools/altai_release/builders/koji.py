"""A Koji hub as the builder, through the koji client library (the code of the `koji` CLI): the profile read
with koji's own config reader and its authentication, our SRPM uploaded as it is, `build` with the layout's
target, the task tree watched, the results downloaded and checked against the SRPM we sent. Real builds
that other packages of the run BuildRequire are waited for in the build tag's repository the way
`koji wait-repo` does (koji's RepoWatcher), so that a dependent build's root has them."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from altai_release.builders.builder import BuildJob, BuildOutput
from altai_release.builders.kojihub import KojiHub, build_of_task, fault_line, fault_text, fetch_build_rpms
from altai_release.builders.kojirepo import wait_repo
from altai_release.builders.kojireuse import (
    check_listed,
    check_rebuild_srpm,
    check_reproducible,
    ensure_tagged,
    foreign_build,
    reusable_build,
)
from altai_release.builders.kojiroot import hub_build_root
from altai_release.core.errors import BuildError, InputError, KojiError
from altai_release.layout.koji_table import KojiSettings
from altai_release.rpm.readback import read_nevra
from altai_release.sandbox.output import check_binaries

log = logging.getLogger(__name__)


class KojiBuilder:
    name = "koji"

    def __init__(self, settings: KojiSettings, verification: bool = False) -> None:
        # a verification rebuilds every SRPM as a scratch build: the hub refuses a real build of an NVR it
        # holds, and taking its existing build would prove nothing
        self.scratch = settings.scratch or verification
        self.hub = KojiHub(settings)
        self.koji, self.settings, self.server = self.hub.koji, settings, self.hub.server
        self._lock = threading.Lock()
        self._tasks: set[int] = set()
        self._aborted = threading.Event()
        self.build_tag: str = ""
        self.dest_tag: str = ""
        self.rebuilds_srpm = False

    def start(self, order: Mapping[str, set[str]]) -> None:
        needs = {name: sorted(deps) for name, deps in order.items() if deps}
        if self.scratch and needs:
            pairs = "; ".join(f"{name} needs {', '.join(deps)}" for name, deps in sorted(needs.items()))
            raise InputError(
                f"[koji] scratch = true cannot build packages that BuildRequire each other in one run ({pairs}):"
                " a scratch build is tagged nowhere, so the dependent build's root never has it;"
                " build the dependency first with scratch = false, or build them in separate runs"
            )
        session = self.hub.session()
        target = self.hub.call("look up the build target", session.getBuildTarget, self.settings.target)
        if not target:
            raise InputError(f"koji hub {self.server}: no build target {self.settings.target!r} (layout [koji] target)")
        self.build_tag, self.dest_tag = target["build_tag_name"], target["dest_tag_name"]
        check_reproducible(self.hub, session, self.build_tag)
        if not self.scratch:  # a scratch build is asked not to rebuild our SRPM, as `koji build` allows
            self.rebuilds_srpm = check_rebuild_srpm(self.hub, session, self.build_tag)

    def describe(self) -> str:
        kind = "scratch builds" if self.scratch else "real builds"
        return f"Koji hub {self.server}, target {self.settings.target} ({kind}); build roots: its build tag's"

    def abort(self) -> None:
        """Cancel every task of the run on the hub; the watching threads then stop."""
        self._aborted.set()
        with self._lock:
            tasks = sorted(self._tasks)
        if not tasks:
            return
        session = self.hub.session()
        for task_id in tasks:
            self.hub.cancel(session, task_id)

    def foreign_build(self, srpm: Path) -> str | None:
        """The hub's build of this SRPM's NVR from other contents, if any (Koji builds an NVR once)."""
        if self.scratch:
            return None
        return foreign_build(self.hub, self.hub.session(), srpm)

    # -- one package ---------------------------------------------------------------------------------

    def build(self, job: BuildJob) -> BuildOutput:
        name, session = job.package.name, self.hub.session()
        if self._aborted.is_set():
            raise KojiError(f"{name}: not submitted, the run is stopping")
        source_nevra = read_nevra(job.srpm)
        if not self.scratch:
            check_listed(self.hub, session, self.dest_tag, source_nevra.name, name)
            nvr = f"{source_nevra.name}-{source_nevra.version}-{source_nevra.release}"
            existing = reusable_build(self.hub, session, job, nvr, self.rebuilds_srpm)
            if existing is not None:
                return self._reuse(session, job, existing)
        serverdir = f"altai-build/{time.strftime('%Y%m%d%H%M%S')}.{secrets.token_hex(6)}"
        log.info("%s: uploading %s to %s", name, job.srpm.name, self.server)
        self.hub.call(f"upload {job.srpm.name}", session.uploadWrapper, str(job.srpm), serverdir, job.srpm.name)
        opts: dict[str, Any] = {"scratch": True, "rebuild_srpm": False} if self.scratch else {}
        source = f"{serverdir}/{job.srpm.name}"
        task_id = int(self.hub.call("submit the build", session.build, source, self.settings.target, opts))
        children = self._follow(session, job, task_id)
        arch_tasks = [c for c in children if c["method"] == "buildArch"]
        for child in arch_tasks:
            self.hub.fetch_logs(session, child, job.logdir, prefix=_log_prefix(child, arch_tasks))
        result = job.workdir / "result"
        result.mkdir(parents=True, exist_ok=True)
        if self.scratch:
            rpms = [p for c in arch_tasks for p in self.hub.fetch_task_rpms(session, c, result)]
        else:
            rpms = fetch_build_rpms(self.hub, session, build_of_task(self.hub, session, task_id), result)
        rpms = _check_results(job, task_id, rpms)
        if not self.scratch and job.dependents:
            wait_repo(self.hub, session, job, source_nevra, self.build_tag)
        facts = {"builder": "koji", "hub": self.server, "task": str(task_id)}
        root = hub_build_root(self.hub, session, task_id)
        return BuildOutput(rpms, job.logdir / "build.log", [f"koji task {task_id}"], facts, root)

    def _follow(self, session: Any, job: BuildJob, task_id: int) -> list[dict[str, Any]]:
        """Watch a task of the run (abort() cancels it) to its end; its children."""
        with self._lock:
            self._tasks.add(task_id)
            late = self._aborted.is_set()  # submitted while abort() was cancelling the others
        if late:
            self.hub.cancel(session, task_id)
        try:
            return self._watch(session, job, task_id)
        finally:
            with self._lock:
                self._tasks.discard(task_id)

    def _reuse(self, session: Any, job: BuildJob, build: dict[str, Any]) -> BuildOutput:
        """The hub's existing build of our SRPM: tagged into the destination tag if it is not, its RPMs taken."""
        tagging = ensure_tagged(self.hub, session, build, self.dest_tag, job.package.name)
        if tagging is not None:
            self._follow(session, job, tagging)
        result = job.workdir / "result"
        result.mkdir(parents=True, exist_ok=True)
        rpms = _check_results(job, build.get("task_id") or 0, fetch_build_rpms(self.hub, session, build, result))
        if job.dependents:
            wait_repo(self.hub, session, job, read_nevra(job.srpm), self.build_tag)
        note = f"koji build {build['nvr']} (id {build['build_id']}) taken from the hub: built before from this SRPM"
        facts = {"builder": "koji", "hub": self.server, "task": str(build.get("task_id") or "")}
        root = hub_build_root(self.hub, session, build["task_id"]) if build.get("task_id") else ()
        return BuildOutput(rpms, job.logdir / "build.log", [note], facts, root)

    def _watch(self, session: Any, job: BuildJob, task_id: int) -> list[dict[str, Any]]:
        """Poll the task tree until the build task ends; a progress line for every state change."""
        koji, name = self.koji, job.package.name
        seen: dict[int, str] = {}
        weburl = self.hub.config.get("weburl")
        while True:
            if self._aborted.is_set():
                raise KojiError(f"{name}: koji task {task_id} cancelled, the run is stopping")
            info = self.hub.call(f"watch task {task_id}", session.getTaskInfo, task_id)
            children = self.hub.call(f"watch task {task_id}", session.getTaskChildren, task_id)
            for task in [info, *children]:
                state = koji.TASK_STATES[task["state"]].lower()
                if seen.get(task["id"]) != state:
                    where = f" {weburl}/taskinfo?taskID={task['id']}" if weburl and task["id"] not in seen else ""
                    log.info("%s: koji task %s %s: %s%s", name, task["id"], _label(task), state, where)
                    seen[task["id"]] = state
            state = koji.TASK_STATES[info["state"]]
            if state == "CLOSED":
                return list(children)
            if state in ("FAILED", "CANCELED"):
                raise _failure(self.hub, session, job, info, children)
            self._aborted.wait(self.settings.poll_interval)


def _check_results(job: BuildJob, task_id: int, rpms: list[Path]) -> list[Path]:
    """Every result must be a binary package of the SRPM we sent: one of its spec's packages, at its epoch,
    version and release, made from it."""
    try:
        return check_binaries(rpms, job.srpm, job.packages, f"{job.package.name}: koji task {task_id}")
    except BuildError as exc:
        raise KojiError(str(exc)) from exc


def _failure(
    hub: KojiHub, session: Any, job: BuildJob, info: dict[str, Any], children: list[dict[str, Any]]
) -> KojiError:
    """A failed or cancelled task as one error: the hub's account of it and the tail of its log."""
    koji, name = hub.koji, job.package.name
    failed = next((c for c in children if koji.TASK_STATES[c["state"]] == "FAILED"), info)
    state = koji.TASK_STATES[failed["state"]].lower()
    if state == "canceled":
        return KojiError(f"{name}: koji task {failed['id']} ({_label(failed)}) was canceled on the hub")
    said = ""
    try:
        session.getTaskResult(failed["id"])
        why = "failed"
    except Exception as exc:  # noqa: BLE001 - the hub's own account of the failure, whatever its class
        why, said = f"failed: {fault_line(exc)}", fault_text(exc)
    try:
        logs = hub.fetch_logs(session, failed, job.logdir, prefix="")
    except KojiError:
        logs = []
    if said.count("\n") > 1:  # a traceback (kojid's Fault(1, …)): all of it kept beside the logs
        kept = job.logdir / f"koji-task-{failed['id']}.fault"
        kept.write_text(said, encoding="utf-8")
        logs.append(kept)
    # the log the hub's message points at (mock's "see root.log"), else build.log
    log = next((p for p in logs if p.name in why or p.suffix == ".fault"), None) or next(
        (p for p in logs if p.name == "build.log"), None
    )
    # a kept traceback's last line is already the message's
    tail = _tail(log.read_text(encoding="utf-8", errors="replace")) if log and log.suffix != ".fault" else ""
    where = f" (log: {log})" if log else ""
    return KojiError(f"{name}: koji task {failed['id']} ({_label(failed)}) {why}{where}", [], tail)


def _label(task: dict[str, Any]) -> str:
    return f"{task['method']} {task['arch']}" if task["method"] == "buildArch" else str(task["method"])


def _log_prefix(task: dict[str, Any], arch_tasks: list[dict[str, Any]]) -> str:
    """One arch task's logs keep their names; with several, each arch's carry its arch in front."""
    return "" if len(arch_tasks) == 1 else f"{task['arch']}."


def _tail(log: str, lines: int = 3) -> str:
    """The last lines of a log on one line (rpmbuild repeats its errors at its end: once is enough; the
    warnings it lists after them say nothing of the failure)."""
    kept: dict[str, str] = {}
    warnings = False
    for line in log.splitlines()[-4 * lines :]:
        text = line.strip()
        if text in ("RPM build warnings:", "RPM build errors:"):
            warnings = text == "RPM build warnings:"
        elif text and not (warnings and line[:1].isspace()):
            warnings = False
            kept.setdefault(text.removeprefix("error: "), text)
    return " | ".join(list(kept.values())[-lines:])
