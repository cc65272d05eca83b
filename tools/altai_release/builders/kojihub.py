"""One Koji hub as the client library sees it: the profile read with koji's own config reader, a logged-in
session per thread (a session's calls are numbered), each call's failure as one KojiError naming the hub
and what was asked, and the downloads of a task's outputs and of a build's RPMs, bounded by what the hub
lists for them."""

from __future__ import annotations

import logging
import threading
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

from altai_release.core.errors import InputError, KojiError
from altai_release.layout.koji_table import KojiSettings
from altai_release.rpm.readback import read_header

log = logging.getLogger(__name__)
MAX_OUTAGE = 120  # seconds a run waits for a hub it cannot reach before it fails

LOGS = ("build.log", "root.log", "state.log")
DOWNLOAD_CHUNK = 4 * 1024 * 1024
DOWNLOAD_SECONDS = 3600.0  # one file from topurl, in all


class KojiHub:
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

    def call(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One hub call, its failures as one KojiError that names the hub and what we asked."""
        import requests

        koji = self.koji
        try:
            return call(*args, **kwargs)
        except koji.AuthError as exc:
            if reason(exc) in ("connection refused", "unknown host", "timed out"):  # ssl_login wraps those too
                raise KojiError(f"koji hub {self.server}: unreachable while asking to {what}: {reason(exc)}") from None
            raise KojiError(
                f"koji hub {self.server}: authentication refused (profile {self.settings.profile!r}): {exc}"
            ) from None
        except (koji.GenericError, xmlrpc.client.Fault) as exc:  # a fault koji has no class for stays a Fault
            raise KojiError(f"koji hub {self.server}: {what}: {fault_line(exc)}", [], fault_text(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise KojiError(f"koji hub {self.server}: unreachable while asking to {what}: {reason(exc)}") from None
        except OSError as exc:
            raise KojiError(f"koji hub {self.server}: {what}: {exc}") from None

    def session(self) -> Any:
        """This thread's logged-in session: a session's calls are numbered, so threads do not share one."""
        session = getattr(self._local, "session", None)
        if session is None:
            koji = self.koji
            options = koji.grab_session_options(self.config)
            # koji's client retries a hub it cannot reach max_retries times, retry_interval apart (by default
            # 30 × 20 s): bounded here to MAX_OUTAGE in all, the profile's own when it is shorter
            interval = max(1, int(options.get("retry_interval") or 20))
            options["max_retries"] = min(int(options.get("max_retries") or 30), max(1, MAX_OUTAGE // interval))
            session = koji.ClientSession(self.server, options)
            self.call("log in", self._login, session)
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

    def cancel(self, session: Any, task_id: int) -> None:
        try:
            session.cancelTask(task_id)
            log.info("koji: cancelled task %s", task_id)
        except Exception as exc:  # noqa: BLE001 - the run is failing already; say it and go on
            log.warning("koji: could not cancel task %s: %s", task_id, reason(exc))

    def download(self, session: Any, task_id: int, filename: str, dest: Path, size: int) -> Path:
        """A task's output file, at most the size the hub listed for it (a hub that sends more is wrong): over
        HTTP from topurl as `koji download-task` fetches it, through the hub's XML-RPC (base64, in chunks)
        only where topurl does not serve it."""
        topurl = self.config.get("topurl")
        if topurl:
            url = f"{self.koji.PathInfo(topdir=topurl).task(task_id)}/{filename}"
            try:
                http_get(url, dest, size, self.config.get("serverca") or True)
                return dest
            except KojiError:
                pass  # not served there (an older hub, another volume): the hub's own call below
        with open(dest, "wb") as out:
            offset = 0
            while offset <= size:
                what = f"download {filename} of task {task_id}"
                data = self.call(what, session.downloadTaskOutput, task_id, filename, offset, DOWNLOAD_CHUNK)
                out.write(data)
                offset += len(data)
                if len(data) < DOWNLOAD_CHUNK:
                    break
        if offset != size:
            raise KojiError(f"koji task {task_id}: {filename}: downloaded {offset} bytes, the hub lists {size}")
        return dest

    def outputs(self, session: Any, task_id: int) -> dict[str, int]:
        listed = self.call(f"list the output of task {task_id}", session.listTaskOutput, task_id, stat=True)
        return {filename: int(st["st_size"]) for filename, st in listed.items()}

    def fetch_logs(self, session: Any, task: dict[str, Any], logdir: Path, prefix: str) -> list[Path]:
        outputs = self.outputs(session, task["id"])
        return [
            self.download(session, task["id"], log, logdir / f"{prefix}{log}", outputs[log])
            for log in LOGS
            if log in outputs
        ]

    def fetch_task_rpms(self, session: Any, task: dict[str, Any], dest: Path) -> list[Path]:
        """A scratch build's binary packages, from its arch task's output."""
        outputs = self.outputs(session, task["id"])
        return [
            self.download(session, task["id"], f, dest / _plain(f, task["id"]), size)
            for f, size in sorted(outputs.items())
            if f.endswith(".rpm") and not f.endswith(".src.rpm")
        ]


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


def reason(exc: BaseException) -> str:
    text = str(exc).strip()
    for marker, reason in _REASONS.items():
        if marker in text:
            return reason
    return text.splitlines()[-1] if text else type(exc).__name__


def fault_text(exc: BaseException) -> str:
    """What the hub said: a Fault's faultString (kojid reports an unexpected error as Fault(1, its
    traceback)), else the exception's text."""
    return str(exc.faultString) if isinstance(exc, xmlrpc.client.Fault) else str(exc)


def fault_line(exc: BaseException) -> str:
    """The last meaningful line of what the hub said: a traceback's exception line, not its frames."""
    lines = [line.strip() for line in fault_text(exc).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def build_of_task(hub: KojiHub, session: Any, task_id: int) -> dict[str, Any]:
    builds = hub.call(f"find the build of task {task_id}", session.listBuilds, taskID=task_id)
    if not builds:
        raise KojiError(f"koji task {task_id} closed without a build")
    return dict(builds[0])


def http_get(url: str, dest: Path, size: int, verify: str | bool, seconds: float = DOWNLOAD_SECONDS) -> None:
    """`url` into `dest` through the one downloader: exactly `size` bytes (the hub's record; more is cut at
    one byte beyond), within `seconds` in all, checked against the profile's `serverca` when it names one.
    Any failure is a KojiError, so that a task's output falls back to the hub's own call."""
    from altai_release.core.download import fetch
    from altai_release.core.errors import UpstreamError
    from altai_release.core.limits import DownloadLimits

    limits = DownloadLimits(seconds=seconds, idle_seconds=min(300.0, seconds))
    try:
        fetch(url, dest, "koji", limits, size=size, cafile=verify if isinstance(verify, str) else None)
    except UpstreamError as exc:
        raise KojiError(str(exc).removeprefix("koji: ")) from None


def fetch_build_rpms(hub: KojiHub, session: Any, build: dict[str, Any], dest: Path) -> list[Path]:
    """A real build's binary packages, from topurl by the build's RPM list, checked against the hub's
    size and payload digest."""
    task_id = build.get("task_id") or build["build_id"]
    rpms = hub.call(f"list the RPMs of {build['nvr']}", session.listRPMs, buildID=build["build_id"])
    topurl = hub.config.get("topurl")
    if not topurl:
        raise InputError(f"koji profile {hub.settings.profile!r}: no topurl to download real builds from")
    paths = hub.koji.PathInfo(topdir=topurl)
    verify = hub.config.get("serverca") or True
    got = []
    for info in rpms:
        if info["arch"] == "src":
            continue  # the release keeps the SRPM we made
        url = f"{paths.build(build)}/{paths.rpm(info)}"
        target = dest / _plain(url.rsplit("/", 1)[1], task_id)
        http_get(url, target, info["size"], verify)  # the hub's size, or a KojiError naming the URL
        sigmd5 = read_header(target)["sigmd5"]
        payload = sigmd5.hex() if sigmd5 else "-"
        if payload != info["payloadhash"]:
            raise KojiError(
                f"{url}: the file does not match the hub's record of {build['nvr']}"
                f" (payload digest {payload}, hub {info['payloadhash']})"
            )
        got.append(target)
    return got
