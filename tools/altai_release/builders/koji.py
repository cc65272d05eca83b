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
import xmlrpc.client
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import BuildError, InputError, KojiError
from ..kojiconfig import KojiSettings
from ..nevra import Nevra
from ..packages import read_header, read_nevra
from ..sandbox_output import check_binaries
from .base import BuildJob, BuildOutput

log = logging.getLogger(__name__)

LOGS = ("build.log", "root.log", "state.log")
DOWNLOAD_CHUNK = 4 * 1024 * 1024


class KojiBuilder:
    name = "koji"

    def __init__(self, settings: KojiSettings) -> None:
        import koji  # only a koji run pays for the library

        self.koji: Any = koji
        self.settings = settings
        try:
            self.config: dict[str, Any] = koji.read_config(
                settings.profile, user_config=str(settings.config) if settings.config else None
            )
        except koji.ConfigurationError as exc:
            where = settings.config or "/etc/koji.conf.d, ~/.koji/config.d"
            raise InputError(f"koji profile {settings.profile!r} ({where}): {exc}") from None
        self.server: str = self.config["server"]
        self._local = threading.local()
        self._lock = threading.Lock()
        self._tasks: set[int] = set()
        self._aborted = threading.Event()
        self.build_tag: str = ""

    # -- the hub ---------------------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One hub call, its failures as one KojiError that names the hub and what we asked."""
        import requests

        koji = self.koji
        try:
            return call(*args, **kwargs)
        except koji.AuthError as exc:
            if _reason(exc) in ("connection refused", "unknown host", "timed out"):  # ssl_login wraps those too
                raise KojiError(f"koji hub {self.server}: unreachable while asking to {what}: {_reason(exc)}") from None
            raise KojiError(
                f"koji hub {self.server}: authentication refused (profile {self.settings.profile!r}): {exc}"
            ) from None
        except (koji.GenericError, xmlrpc.client.Fault) as exc:  # a fault koji has no class for stays a Fault
            raise KojiError(f"koji hub {self.server}: {what}: {exc}") from None
        except requests.exceptions.RequestException as exc:
            raise KojiError(f"koji hub {self.server}: unreachable while asking to {what}: {_reason(exc)}") from None
        except OSError as exc:
            raise KojiError(f"koji hub {self.server}: {what}: {exc}") from None

    def _session(self) -> Any:
        """This thread's logged-in session: a session's calls are numbered, so threads do not share one."""
        session = getattr(self._local, "session", None)
        if session is None:
            koji = self.koji
            session = koji.ClientSession(self.server, koji.grab_session_options(self.config))
            self._call("log in", self._login, session)
            self._local.session = session
        return session

    def _login(self, session: Any) -> None:
        config, koji = self.config, self.koji
        authtype = config.get("authtype")
        if authtype == "ssl" or (authtype is None and config.get("cert") and Path(config["cert"]).is_file()):
            session.ssl_login(config["cert"], None, config.get("serverca") or None)
        elif authtype in ("gssapi", "kerberos") or authtype is None:
            session.gssapi_login(principal=config.get("principal"), keytab=config.get("keytab"))
        elif authtype == "password":
            session.login()
        else:
            raise koji.AuthError(f"authtype {authtype!r} cannot submit builds")
        if not session.logged_in:
            raise koji.AuthError("the hub gave no session")

    def start(self, order: Mapping[str, set[str]]) -> None:
        needs = {name: sorted(deps) for name, deps in order.items() if deps}
        if self.settings.scratch and needs:
            pairs = "; ".join(f"{name} needs {', '.join(deps)}" for name, deps in sorted(needs.items()))
            raise InputError(
                f"[koji] scratch = true cannot build packages that BuildRequire each other in one run ({pairs}):"
                " a scratch build is tagged nowhere, so the dependent build's root never has it;"
                " build the dependency first with scratch = false, or build them in separate runs"
            )
        session = self._session()
        target = self._call("look up the build target", session.getBuildTarget, self.settings.target)
        if not target:
            raise InputError(f"koji hub {self.server}: no build target {self.settings.target!r} (layout [koji] target)")
        self.build_tag = target["build_tag_name"]

    def abort(self) -> None:
        """Cancel every task of the run on the hub; the watching threads then stop."""
        self._aborted.set()
        with self._lock:
            tasks = sorted(self._tasks)
        if not tasks:
            return
        session = self._session()
        for task_id in tasks:
            self._cancel(session, task_id)

    def _cancel(self, session: Any, task_id: int) -> None:
        try:
            session.cancelTask(task_id)
            log.info(f"koji: cancelled task {task_id}")
        except Exception as exc:  # noqa: BLE001 - the run is failing already; say it and go on
            log.warning(f"koji: could not cancel task {task_id}: {_reason(exc)}")

    # -- one package -----------------------------------------------------------------------------------

    def build(self, job: BuildJob) -> BuildOutput:
        name, session = job.package.name, self._session()
        if self._aborted.is_set():
            raise KojiError(f"{name}: not submitted, the run is stopping")
        serverdir = f"altai-build/{time.strftime('%Y%m%d%H%M%S')}.{secrets.token_hex(6)}"
        log.info(f"{name}: uploading {job.srpm.name} to {self.server}")
        self._call(f"upload {job.srpm.name}", session.uploadWrapper, str(job.srpm), serverdir, job.srpm.name)
        opts = {"scratch": True} if self.settings.scratch else {}
        source = f"{serverdir}/{job.srpm.name}"
        task_id = int(self._call("submit the build", session.build, source, self.settings.target, opts))
        with self._lock:
            self._tasks.add(task_id)
            late = self._aborted.is_set()  # submitted while abort() was cancelling the others
        if late:
            self._cancel(session, task_id)
        try:
            children = self._watch(session, job, task_id)
        finally:
            with self._lock:
                self._tasks.discard(task_id)
        arch_tasks = [c for c in children if c["method"] == "buildArch"]
        for child in arch_tasks:
            self._fetch_logs(session, child, job.logdir, prefix=_log_prefix(child, arch_tasks))
        result = job.workdir / "result"
        result.mkdir(parents=True, exist_ok=True)
        if self.settings.scratch:
            rpms = [p for c in arch_tasks for p in self._fetch_task_rpms(session, c, result)]
        else:
            rpms = self._fetch_build_rpms(session, task_id, result)
        rpms = self._check_results(job, task_id, rpms)
        if not self.settings.scratch and job.dependents:
            self._wait_repo(session, job, read_nevra(job.srpm))
        return BuildOutput(rpms=rpms, log=job.logdir / "build.log", notes=[f"koji task {task_id}"])

    def _watch(self, session: Any, job: BuildJob, task_id: int) -> list[dict[str, Any]]:
        """Poll the task tree until the build task ends; a progress line for every state change."""
        koji, name = self.koji, job.package.name
        seen: dict[int, str] = {}
        weburl = self.config.get("weburl")
        while True:
            if self._aborted.is_set():
                raise KojiError(f"{name}: koji task {task_id} cancelled, the run is stopping")
            info = self._call(f"watch task {task_id}", session.getTaskInfo, task_id)
            children = self._call(f"watch task {task_id}", session.getTaskChildren, task_id)
            for task in [info, *children]:
                state = koji.TASK_STATES[task["state"]].lower()
                if seen.get(task["id"]) != state:
                    where = f" {weburl}/taskinfo?taskID={task['id']}" if weburl and task["id"] not in seen else ""
                    log.info(f"{name}: koji task {task['id']} {_label(task)}: {state}{where}")
                    seen[task["id"]] = state
            state = koji.TASK_STATES[info["state"]]
            if state == "CLOSED":
                return list(children)
            if state in ("FAILED", "CANCELED"):
                raise self._failure(session, job, info, children)
            self._aborted.wait(self.settings.poll_interval)

    def _failure(self, session: Any, job: BuildJob, info: dict[str, Any], children: list[dict[str, Any]]) -> KojiError:
        koji, name = self.koji, job.package.name
        failed = next((c for c in children if koji.TASK_STATES[c["state"]] == "FAILED"), info)
        state = koji.TASK_STATES[failed["state"]].lower()
        if state == "canceled":
            return KojiError(f"{name}: koji task {failed['id']} ({_label(failed)}) was canceled on the hub")
        try:
            session.getTaskResult(failed["id"])
            why = "failed"
        except Exception as exc:  # noqa: BLE001 - the hub's own account of the failure, whatever its class
            why = f"failed: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}"
        try:
            logs = self._fetch_logs(session, failed, job.logdir, prefix="")
        except KojiError:
            logs = []
        # the log the hub's message points at (mock's "see root.log"), else build.log
        log = next((p for p in logs if p.name in why), next((p for p in logs if p.name == "build.log"), None))
        tail = _tail(log.read_text(encoding="utf-8", errors="replace")) if log else ""
        where = f" (log: {log})" if log else ""
        return KojiError(f"{name}: koji task {failed['id']} ({_label(failed)}) {why}{where}", [], tail)

    def _download(self, session: Any, task_id: int, filename: str, dest: Path, size: int) -> Path:
        """A task's output file, at most the size the hub listed for it (a hub that sends more is wrong)."""
        with open(dest, "wb") as out:
            offset = 0
            while offset <= size:
                what = f"download {filename} of task {task_id}"
                data = self._call(what, session.downloadTaskOutput, task_id, filename, offset, DOWNLOAD_CHUNK)
                out.write(data)
                offset += len(data)
                if len(data) < DOWNLOAD_CHUNK:
                    break
        if offset != size:
            raise KojiError(f"koji task {task_id}: {filename}: downloaded {offset} bytes, the hub lists {size}")
        return dest

    def _outputs(self, session: Any, task_id: int) -> dict[str, int]:
        listed = self._call(f"list the output of task {task_id}", session.listTaskOutput, task_id, stat=True)
        return {filename: int(st["st_size"]) for filename, st in listed.items()}

    def _fetch_logs(self, session: Any, task: dict[str, Any], logdir: Path, prefix: str) -> list[Path]:
        outputs = self._outputs(session, task["id"])
        return [
            self._download(session, task["id"], log, logdir / f"{prefix}{log}", outputs[log])
            for log in LOGS
            if log in outputs
        ]

    def _fetch_task_rpms(self, session: Any, task: dict[str, Any], dest: Path) -> list[Path]:
        """A scratch build's binary packages, from its arch task's output."""
        outputs = self._outputs(session, task["id"])
        return [
            self._download(session, task["id"], f, dest / _plain(f, task["id"]), size)
            for f, size in sorted(outputs.items())
            if f.endswith(".rpm") and not f.endswith(".src.rpm")
        ]

    def _fetch_build_rpms(self, session: Any, task_id: int, dest: Path) -> list[Path]:
        """A real build's binary packages, from topurl by the build's RPM list, checked against the hub's
        size and payload digest."""
        import requests

        builds = self._call(f"find the build of task {task_id}", session.listBuilds, taskID=task_id)
        if not builds:
            raise KojiError(f"koji task {task_id} closed without a build")
        build = builds[0]
        rpms = self._call(f"list the RPMs of {build['nvr']}", session.listRPMs, buildID=build["build_id"])
        topurl = self.config.get("topurl")
        if not topurl:
            raise InputError(f"koji profile {self.settings.profile!r}: no topurl to download real builds from")
        paths = self.koji.PathInfo(topdir=topurl)
        verify = self.config.get("serverca") or True
        got = []
        for info in rpms:
            if info["arch"] == "src":
                continue  # the release keeps the SRPM we made
            url = f"{paths.build(build)}/{paths.rpm(info)}"
            target = dest / _plain(url.rsplit("/", 1)[1], task_id)
            try:
                with requests.get(url, verify=verify, stream=True, timeout=300) as response:
                    response.raise_for_status()
                    with open(target, "wb") as out:
                        received = 0
                        for chunk in response.iter_content(1024 * 1024):
                            received += len(chunk)
                            if received > info["size"]:
                                break  # more than the hub's record: refused below, without filling the disk
                            out.write(chunk)
            except requests.exceptions.RequestException as exc:
                raise KojiError(f"{url}: download failed: {_reason(exc)}") from None
            size = target.stat().st_size
            sigmd5 = read_header(target)["sigmd5"] if size == info["size"] else None
            payload = sigmd5.hex() if sigmd5 else "-"
            if size != info["size"] or payload != info["payloadhash"]:
                raise KojiError(
                    f"{url}: the file does not match the hub's record of {build['nvr']}"
                    f" (size {size}, hub {info['size']}; payload digest {payload}, hub {info['payloadhash']})"
                )
            got.append(target)
        return got

    def _check_results(self, job: BuildJob, task_id: int, rpms: list[Path]) -> list[Path]:
        """Every result must be a binary package of the SRPM we sent: one of its spec's packages, at its
        epoch, version and release, made from it."""
        try:
            return check_binaries(rpms, job.srpm, job.packages, f"{job.package.name}: koji task {task_id}")
        except BuildError as exc:
            raise KojiError(str(exc)) from exc

    def _wait_repo(self, session: Any, job: BuildJob, source: Nevra) -> None:
        """Until the build tag's repository has this build, as `koji wait-repo --build NVR` waits."""
        nvr = f"{source.name}-{source.version}-{source.release}"
        needed_by = ", ".join(job.dependents)
        log.info(f"{job.package.name}: waiting for {nvr} in the {self.build_tag} repo ({needed_by} need it)")
        watcher = self.koji.util.RepoWatcher(session, self.build_tag, nvrs=[nvr])
        watcher.PAUSE = self.settings.poll_interval
        watcher.TIMEOUT = self.settings.wait_repo_minutes
        repo = self._call(f"wait for {nvr} in the {self.build_tag} repo", watcher.waitrepo)
        log.info(f"{job.package.name}: {nvr} is in repo {repo['id']} of {self.build_tag}")


def _label(task: dict[str, Any]) -> str:
    return f"{task['method']} {task['arch']}" if task["method"] == "buildArch" else str(task["method"])


def _log_prefix(task: dict[str, Any], arch_tasks: list[dict[str, Any]]) -> str:
    """One arch task's logs keep their names; with several, each arch's carry its arch in front."""
    return "" if len(arch_tasks) == 1 else f"{task['arch']}."


def _tail(log: str, lines: int = 3) -> str:
    """The last lines of a log on one line (rpmbuild repeats its errors at its end: once is enough)."""
    kept: dict[str, str] = {}
    for line in log.splitlines()[-4 * lines :]:
        text = line.strip()
        if text and text != "RPM build errors:":
            kept.setdefault(text.removeprefix("error: "), text)
    return " | ".join(list(kept.values())[-lines:])


def _plain(filename: str, task_id: int) -> str:
    """A file name from the hub, used as a local name only if it is one."""
    if "/" in filename or filename.startswith(".") or not filename:
        raise KojiError(f"koji task {task_id}: output name {filename!r} is not a plain file name")
    return filename


_REASONS = {
    "Connection refused": "connection refused",
    "Name or service not known": "unknown host",
    "timed out": "timed out",
    "CERTIFICATE_VERIFY_FAILED": "the server's certificate is not trusted",
}


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    for marker, reason in _REASONS.items():
        if marker in text:
            return reason
    return text.splitlines()[-1] if text else type(exc).__name__
