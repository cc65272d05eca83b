"""FakeKojiHub: a test double of a Koji hub, because a real one cannot run here (it needs PostgreSQL, httpd,
kojira and mock on its builders). It speaks Koji's XML-RPC over HTTPS with client certificates (a CA, a
server and client certificates made with openssl for each test), so that the real koji client library
(`ssl_login`, `uploadWrapper`'s fast upload, `downloadTaskOutput`, RepoWatcher) runs against it unchanged.

Only the calls the koji builder makes exist, each with the parameters of the hub function of Koji 1.36
(kojihub/kojihub.py, auth.py, repos.py): a call is bound to that signature, so an argument the hub would
not accept is a ParameterError fault, and every call is recorded for the tests to look at. Return values
have the keys those functions return. Sessions carry the Koji-Session-* headers and their call numbers must
increase, as the hub's auth checks.

"Building" runs the local rpmbuild on the uploaded SRPM in a buildArch task on one of `slots` builders,
after checking its BuildRequires against the build tag's newest repository as mock's root would: a
BuildRequire that a build of this hub provides but that repository lacks fails the task with mock's
message in root.log. Real builds are imported, tagged into the target's destination tag (which the build tag
inherits) and a new build tag repository appears `repo_delay` seconds later, as kojira makes it."""

from __future__ import annotations

import base64
import inspect
import itertools
import shutil
import socket
import ssl
import subprocess
import threading
import time
import traceback
import urllib.parse
import xmlrpc.client
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import koji
import koji.util
from altai_release.packages import read_header, read_nevra
from altai_release.rpmbuild import INNER_TOPDIR, Rpmbuild

TASK = koji.TASK_STATES
KOJI_VERSION = "1.36.1"


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA, the hub's certificate for 127.0.0.1, a client certificate the CA signed (CN = the user) and
    one from another CA; client certificates as koji wants them: certificate and key in one PEM file."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    def ca(name: str) -> None:
        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.crt",
        )

    def signed(name: str, cn: str, by: str, ext: str = "") -> Path:
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={cn}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        extra = []
        if ext:
            (directory / f"{name}.ext").write_text(ext)
            extra = ["-extfile", f"{name}.ext"]
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            f"{by}.crt",
            "-CAkey",
            f"{by}.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{name}.crt",
            *extra,
        )
        pem = directory / f"{name}.pem"
        pem.write_text((directory / f"{name}.crt").read_text() + (directory / f"{name}.key").read_text())
        return pem

    ca("koji-ca")
    ca("other-ca")
    signed("hub", "127.0.0.1", "koji-ca", "subjectAltName=IP:127.0.0.1\n")
    return {
        "ca": directory / "koji-ca.crt",
        "hub_cert": directory / "hub.crt",
        "hub_key": directory / "hub.key",
        "client": signed("client", "altai-release", "koji-ca"),
        "stranger": signed("stranger", "altai-release", "other-ca"),
    }


@dataclass
class Task:
    id: int
    method: str
    arch: str
    parent: int | None
    owner: int
    label: str | None = None
    state: int = TASK["FREE"]
    host_id: int | None = None
    result: Any = None
    fault: xmlrpc.client.Fault | None = None
    create_ts: float = field(default_factory=time.time)
    start_ts: float | None = None
    completion_ts: float | None = None
    outputs: dict[str, Path] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """getTaskInfo's keys (kojihub Task.getInfo)."""

        def stamp(ts: float | None) -> str | None:
            return None if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))

        return {
            "id": self.id,
            "state": self.state,
            "create_time": stamp(self.create_ts),
            "create_ts": self.create_ts,
            "start_time": stamp(self.start_ts),
            "start_ts": self.start_ts,
            "completion_time": stamp(self.completion_ts),
            "completion_ts": self.completion_ts,
            "channel_id": 1,
            "host_id": self.host_id,
            "parent": self.parent,
            "label": self.label,
            "waiting": None,
            "awaited": None,
            "owner": self.owner,
            "method": self.method,
            "arch": self.arch,
            "priority": 20,
            "weight": 1.5,
        }

    @property
    def done(self) -> bool:
        return self.state in (TASK["CLOSED"], TASK["CANCELED"], TASK["FAILED"])


class FakeKojiHub:
    def __init__(
        self,
        work: Path,
        certs: dict[str, Path],
        target: str = "altai-9.9-el6",
        dist: str = ".el6",
        macro_files: Sequence[Path] = (),
        slots: int = 20,
        build_seconds: float = 0.0,
        repo_delay: float = 0.3,
        user: str = "altai-release",
        srpm_builders: Sequence[str] = ("altai-release",),
        rebuild_srpm: bool = False,
        packages: Sequence[str] | None = None,
    ) -> None:
        self.work, self.certs, self.dist, self.macro_files = work, certs, dist, list(macro_files)
        self.build_seconds, self.repo_delay = build_seconds, repo_delay
        self.users = {user: 1}
        # koji's default build_from_srpm policy allows admins only ("has_perm admin :: allow; all :: deny"); the
        # README's hub.conf lets the release user build from an SRPM: these are the users the policy allows
        self.srpm_builders = set(srpm_builders)
        self.build_tag_extra: dict[str, Any] = {"rebuild_srpm": rebuild_srpm}  # getBuildConfig's extra
        self.package_list: set[str] | None = None if packages is None else set(packages)  # None: every package
        self.tracebacks: set[str] = set()  # package names whose builder fails with an unexpected error
        self.serve_task_outputs = True  # topurl serves work/tasks/ (False: only downloadTaskOutput has them)
        self.target = {
            "id": 1,
            "name": target,
            "build_tag": 2,
            "build_tag_name": f"{target}-build",
            "dest_tag": 3,
            "dest_tag_name": f"{target}-candidate",
        }
        self.tags = {2: self.target["build_tag_name"], 3: self.target["dest_tag_name"]}
        self.lock = threading.RLock()
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.timeline: list[tuple[float, str, tuple[Any, ...], dict[str, Any]]] = []  # calls with their time
        self.sessions: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, Task] = {}
        self.builds: dict[int, dict[str, Any]] = {}
        self.rpms: dict[int, list[dict[str, Any]]] = {}  # build id -> listRPMs rows
        self.provides: dict[int, set[str]] = {}  # build id -> what its packages provide
        self.tagged: list[tuple[int, int, int]] = []  # (event, tag id, build id)
        self.repos: list[dict[str, Any]] = []
        self.requests: dict[int, dict[str, Any]] = {}
        self.foreign: dict[str, Path] = {}  # package name -> an RPM the "builder" returns instead of its own
        self.slow: dict[str, float] = {}  # package name -> its build's time, instead of build_seconds
        # a hub that lies: package name -> the name its RPM is listed under / its sizes listed one byte short
        self.output_names: dict[str, str] = {}
        self.understated: set[str] = set()
        self.short: set[str] = set()  # task/file whose listed size is understated
        self.slots = threading.Semaphore(slots)
        self._ids = itertools.count(1)
        self._events = itertools.count(100)
        self.last_event = next(self._events)
        self._new_repo()
        self.stopped = threading.Event()
        self.connections: list[socket.socket] = []
        (work / "uploads").mkdir(parents=True, exist_ok=True)
        (work / "tasks").mkdir(exist_ok=True)
        (work / "packages").mkdir(exist_ok=True)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs["hub_cert"], certs["hub_key"])
        context.load_verify_locations(certs["ca"])
        context.verify_mode = ssl.CERT_OPTIONAL  # as httpd's SSLVerifyClient optional: sslLogin checks it
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        self._kojira = threading.Thread(target=self._regenerate_repos, daemon=True)
        self._kojira.start()

    def stop(self) -> None:
        """The hub goes away: its port refuses connections and the open ones are cut."""
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def profile(self, path: Path, name: str = "altai", cert: Path | None = None, **extra: str) -> Path:
        """A koji client configuration with one profile for this hub (what ~/.koji/config.d/ would hold)."""
        options = {
            "server": f"{self.url}/kojihub",
            "weburl": f"{self.url}/koji",
            "topurl": f"{self.url}/kojifiles",
            "authtype": "ssl",
            "cert": str(cert or self.certs["client"]),
            "serverca": str(self.certs["ca"]),
            "max_retries": "1",
            "retry_interval": "1",
            "anon_retry": "false",
            **extra,
        }
        path.write_text(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()))
        return path

    def called(self, method: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(args, kwargs) for m, args, kwargs in self.calls if m == method]

    # -- the transport ---------------------------------------------------------------------------------

    def dispatch(self, method: str, params: tuple[Any, ...], headers: Any, peer_cn: str | None) -> Any:
        args, kwargs = koji.decode_args(*params)
        with self.lock:
            self.calls.append((method, tuple(args), dict(kwargs)))
            self.timeline.append((time.time(), method, tuple(args), dict(kwargs)))
        user = self._session_user(method, headers)  # the session first, as the hub's request handler
        handler = self.api.get(method)
        if handler is None:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"Invalid method: {method}")
        try:
            inspect.signature(handler).bind(*args, **kwargs)
        except TypeError as exc:
            raise xmlrpc.client.Fault(koji.ParameterError.faultCode, f"{method}: {exc}") from None
        if method == "sslLogin":
            return self._ssl_login(peer_cn, *args, **kwargs)
        if method in self.needs_login and user is None:
            raise xmlrpc.client.Fault(koji.ActionNotAllowed.faultCode, "you must be logged in for this operation")
        return handler(*args, **kwargs)

    def _session_user(self, method: str, headers: Any) -> int | None:
        sid = headers.get("Koji-Session-Id")
        if sid is None:
            return None
        with self.lock:
            session = self.sessions.get(int(sid))
            if session is None or session["key"] != headers.get("Koji-Session-Key") or session["closed"]:
                raise xmlrpc.client.Fault(koji.AuthExpired.faultCode, f"session {sid} is not valid")
            callnum = int(headers.get("Koji-Session-Callnum", -1))
            if session["callnum"] is not None and callnum <= session["callnum"]:
                raise xmlrpc.client.Fault(
                    koji.SequenceError.faultCode, f"{callnum} <= {session['callnum']} (method {method})"
                )
            session["callnum"] = callnum
            return int(session["user"])

    def _ssl_login(
        self,
        peer_cn: str | None,
        proxyuser: Any = None,
        proxyauthtype: Any = None,
        renew: Any = False,
        exclusive: Any = None,
    ) -> dict[str, Any]:
        if peer_cn is None:
            raise xmlrpc.client.Fault(koji.AuthError.faultCode, "could not verify client: NONE")
        if peer_cn not in self.users:
            raise xmlrpc.client.Fault(koji.AuthError.faultCode, f"Unknown user: {peer_cn}")
        with self.lock:
            sid = next(self._ids)
            key = f"{self.users[peer_cn]}-{base64.b32encode(sid.to_bytes(8, 'big')).decode()}"
            self.sessions[sid] = {"key": key, "user": self.users[peer_cn], "callnum": None, "closed": False}
        return {"session-id": sid, "session-key": key, "header-auth": True}

    def raw_upload(self, query: dict[str, str], body: bytes, headers: Any) -> dict[str, Any]:
        """kojihub.handle_upload: a chunk written at its offset, answered with its size and adler32."""
        with self.lock:
            self.calls.append(("rawUpload", (), dict(query)))
            self.timeline.append((time.time(), "rawUpload", (), dict(query)))
        if self._session_user("rawUpload", headers) is None:
            raise xmlrpc.client.Fault(koji.ActionNotAllowed.faultCode, "you must be logged in to upload")
        target = self._upload_path(query["filepath"], query["filename"])
        target.parent.mkdir(parents=True, exist_ok=True)
        offset = int(query["offset"])
        mode = "r+b" if target.exists() and (offset or query.get("overwrite") != "1") else "wb"
        with open(target, mode) as out:
            out.seek(offset)
            out.write(body)
        digest = koji.util.adler32_constructor(body).hexdigest()
        return {"size": len(body), "fileverify": query.get("fileverify"), "offset": offset, "hexdigest": digest}

    def _upload_path(self, path: str, name: str) -> Path:
        if path.startswith("/") or ".." in path.split("/") or "/" in name or name.startswith("."):
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"invalid upload path {path}/{name}")
        return self.work / "uploads" / path / name

    # -- hub calls (signatures of Koji 1.36) -----------------------------------------------------------

    @property
    def api(self) -> dict[str, Callable[..., Any]]:
        return {
            "sslLogin": self._ssl_login_signature,
            "logout": self.logout,
            "getBuildTarget": self.getBuildTarget,
            "checkUpload": self.checkUpload,
            "build": self.build,
            "getTaskInfo": self.getTaskInfo,
            "getTaskChildren": self.getTaskChildren,
            "getTaskResult": self.getTaskResult,
            "listTaskOutput": self.listTaskOutput,
            "downloadTaskOutput": self.downloadTaskOutput,
            "cancelTask": self.cancelTask,
            "listBuilds": self.listBuilds,
            "listRPMs": self.listRPMs,
            "getTag": self.getTag,
            "listTagged": self.listTagged,
            "tagLastChangeEvent": self.tagLastChangeEvent,
            "repo.request": self.repo_request,
            "repo.checkRequest": self.repo_checkRequest,
            "getBuild": self.getBuild,
            "getBuildConfig": self.getBuildConfig,
            "getPackageConfig": self.getPackageConfig,
            "listTags": self.listTags,
            "tagBuild": self.tagBuild,
        }

    needs_login = {"logout", "build", "cancelTask", "repo.request", "tagBuild"}

    def _ssl_login_signature(self, proxyuser=None, proxyauthtype=None, renew=False, exclusive=None):
        raise AssertionError("dispatched to _ssl_login")  # only its signature is used

    def logout(self, session_id=None):
        return None

    def getBuildTarget(self, info, event=None, strict=False):
        if info in (self.target["name"], self.target["id"]):
            return dict(self.target)
        if strict:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such build target: {info}")
        return None

    def checkUpload(self, path, name, verify=None, tail=None, volume=None):
        target = self._upload_path(path, name)
        if not target.exists():
            return None
        st = target.stat()
        result: dict[str, Any] = {"size": st.st_size, "mtime": st.st_mtime}
        if verify:
            data = target.read_bytes()
            result.update(sumlength=len(data), hexdigest=koji.util.adler32_constructor(data).hexdigest())
        return result

    def build(self, src, target, opts=None, priority=None, channel=None):
        if target != self.target["name"]:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such build target: {target}")
        opts = opts or {}
        # the options `koji build` passes (koji_cli.commands.handle_build)
        known = {"scratch", "skip_tag", "arch_override", "repo_id", "fail_fast", "draft", "wait_builds", "wait_repo",
                 "rebuild_srpm", "custom_user_metadata"}  # fmt: skip
        unknown = set(opts) - known
        if unknown:
            raise xmlrpc.client.Fault(koji.ParameterError.faultCode, f"unknown build options {sorted(unknown)}")
        path, _, name = src.rpartition("/")
        srpm = self._upload_path(path, name)
        if not name.endswith(".src.rpm") or not srpm.is_file():
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such file: {src}")
        with self.lock:
            task = self._task("build", "noarch", None, label=name)
        threading.Thread(target=self._run_build, args=(task, srpm, dict(opts)), daemon=True).start()
        return task.id

    def getTaskInfo(self, task_id, request=False, strict=False):
        with self.lock:
            task = self.tasks.get(task_id)
            return task.info() if task else None

    def getTaskChildren(self, task_id, request=False, strict=False):
        with self.lock:
            return [t.info() for t in self.tasks.values() if t.parent == task_id]

    def getTaskResult(self, taskId, raise_fault=True):
        with self.lock:
            task = self.tasks[taskId]
            if task.state == TASK["FAILED"] and task.fault is not None:
                raise task.fault
            if task.state == TASK["CANCELED"]:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"Task {taskId} is canceled")
            if not task.done:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"Task {taskId} is currently open")
            return task.result

    def listTaskOutput(self, taskID, stat=False, all_volumes=False, strict=False):
        with self.lock:
            outputs = dict(self.tasks[taskID].outputs)
        if not stat:
            return sorted(outputs)
        return {
            name: {
                "st_size": str(p.stat().st_size - (f"{taskID}/{name}" in self.short)),
                "st_atime": str(p.stat().st_atime),
                "st_mtime": str(p.stat().st_mtime),
                "st_ctime": str(p.stat().st_ctime),
            }
            for name, p in outputs.items()
        }

    def downloadTaskOutput(self, taskID, fileName, offset=0, size=-1, volume=None):
        if ".." in fileName:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"Invalid file name: {fileName}")
        with self.lock:
            path = self.tasks[taskID].outputs.get(fileName)
        if path is None:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f'no file "{fileName}" output by task {taskID}')
        with open(path, "rb") as f:
            f.seek(int(offset), 0 if int(offset) >= 0 else 2)
            data = f.read(int(size))
        return base64.b64encode(data).decode()

    def cancelTask(self, task_id, recurse=True):
        with self.lock:
            for task in self.tasks.values():
                if (task.id == task_id or (recurse and task.parent == task_id)) and not task.done:
                    task.state, task.completion_ts = TASK["CANCELED"], time.time()
        return None

    def listBuilds(
        self,
        packageID=None,
        userID=None,
        taskID=None,
        prefix=None,
        state=None,
        volumeID=None,
        source=None,
        createdBefore=None,
        createdAfter=None,
        completeBefore=None,
        completeAfter=None,
        type=None,
        typeInfo=None,
        queryOpts=None,
        pattern=None,
        cgID=None,
        draft=None,
    ):
        with self.lock:  # listBuilds rows have build_id, not id (getBuild has both)
            return [{k: v for k, v in b.items() if k != "id"} for b in self.builds.values()
                    if taskID is None or b["task_id"] == taskID]  # fmt: skip

    def listRPMs(
        self,
        buildID=None,
        buildrootID=None,
        imageID=None,
        componentBuildrootID=None,
        hostID=None,
        arches=None,
        queryOpts=None,
        draft=None,
    ):
        wanted = [arches] if isinstance(arches, str) else arches
        with self.lock:
            return [dict(r) for r in self.rpms.get(buildID, []) if wanted is None or r["arch"] in wanted]

    def getBuild(self, buildInfo, strict=False):
        with self.lock:
            for build in self.builds.values():
                if buildInfo in (build["build_id"], build["nvr"]):
                    return dict(build)
        if strict:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such build: {buildInfo!r}")
        return None

    def getBuildConfig(self, tag, event=None):
        info = self.getTag(tag, strict=True, blocked=True)
        info["extra"] = dict(self.build_tag_extra) if info["id"] == 2 else {}
        info["config_inheritance"] = {"extra": {}, "arches": None}
        return info

    def getPackageConfig(self, tag, pkg, event=None):
        tag_info = self.getTag(tag)
        if tag_info is None or (self.package_list is not None and pkg not in self.package_list):
            return None
        return {"package_id": 1, "package_name": pkg, "tag_id": tag_info["id"], "tag_name": tag_info["name"],
                "owner_id": 1, "owner_name": "release-team", "blocked": False, "extra_arches": ""}  # fmt: skip

    def listTags(self, build=None, package=None, perms=True, queryOpts=None, pattern=None):
        with self.lock:
            ids = {t for _, t, b in self.tagged if build is None or b == build or self.builds[b]["nvr"] == build}
            return [self.getTag(t) for t in sorted(ids)]

    def tagBuild(self, tag, build, force=False, fromtag=None):
        info, tag_info = self.getBuild(build, strict=True), self.getTag(tag, strict=True)
        if info["state"] != koji.BUILD_STATES["COMPLETE"]:
            raise xmlrpc.client.Fault(koji.TagError.faultCode, f"build {info['nvr']} not complete")
        if self.package_list is not None and info["name"] not in self.package_list:
            raise xmlrpc.client.Fault(koji.TagError.faultCode, f"Package {info['name']} not in list for {tag}")
        with self.lock:
            task = self._task("tagBuild", "noarch", None)
            self.last_event = next(self._events)
            self.tagged.append((self.last_event, tag_info["id"], info["build_id"]))
            self._changed_at = time.time()
            task.state, task.completion_ts = TASK["CLOSED"], time.time()
        return task.id

    def getTag(self, tagInfo, strict=False, event=None, blocked=False):
        for tag_id, name in self.tags.items():
            if tagInfo in (tag_id, name):
                return {
                    "id": tag_id,
                    "name": name,
                    "arches": "x86_64",
                    "extra": {},
                    "locked": False,
                    "perm": None,
                    "perm_id": None,
                    "maven_support": False,
                    "maven_include_all": False,
                }
        if strict:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such tagInfo: {tagInfo!r}")
        return None

    def listTagged(
        self,
        tag,
        event=None,
        inherit=False,
        prefix=None,
        latest=False,
        package=None,
        owner=None,
        type=None,
        strict=True,
        extra=False,
        draft=None,
    ):
        tag_id = self.getTag(tag, strict=True)["id"]
        with self.lock:
            builds = self._in_tag(tag_id, event, inherit)
            return [
                dict(self.builds[b], tag_id=tag_id, tag_name=self.tags[tag_id])
                for b in builds
                if package is None or self.builds[b]["name"] == package
            ]

    def tagLastChangeEvent(self, tag, event=None, inherit=True):
        tag_id = self.getTag(tag, strict=True)["id"]
        with self.lock:
            events = [e for e, t, _ in self.tagged if t in self._tag_chain(tag_id, inherit)]
            return max(events, default=self.repos[0]["create_event"])

    def repo_request(self, tag, min_event=None, at_event=None, opts=None, priority=None, force=False):
        tag_id = self.getTag(tag, strict=True)["id"]
        with self.lock:
            if min_event in (None, "last"):
                min_event = self.tagLastChangeEvent(tag_id)
            repo = self._repo_since(tag_id, int(min_event))
            if repo and not force:
                return {"repo": repo, "request": None, "duplicate": False}
            req_id = next(self._ids)
            now = time.time()
            self.requests[req_id] = {
                "id": req_id,
                "tag_id": tag_id,
                "at_event": at_event,
                "min_event": int(min_event),
                "opts": {},
                "active": True,
                "task_id": None,
                "task_state": None,
                "tries": 0,
                "repo_id": None,
                "priority": 20,
                "owner": 1,
                "create_ts": now,
                "update_ts": now,
            }
            return {"repo": None, "request": dict(self.requests[req_id]), "duplicate": False}

    def repo_checkRequest(self, req_id):
        with self.lock:
            req = self.requests.get(int(req_id))
            if req is None:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, "No such request")
            repo = self._repo_since(req["tag_id"], req["min_event"])
            if repo:
                req.update(active=False, repo_id=repo["id"], update_ts=time.time())
            return {"repo": repo, "request": dict(req)}

    # -- the farm --------------------------------------------------------------------------------------

    def _task(self, method: str, arch: str, parent: int | None, label: str | None = None) -> Task:
        task = Task(next(self._ids), method, arch, parent, owner=1, label=label)
        self.tasks[task.id] = task
        return task

    def _tag_chain(self, tag_id: int, inherit: bool) -> set[int]:
        return {2, 3} if tag_id == 2 and inherit else {tag_id}

    def _in_tag(self, tag_id: int, event: int | None, inherit: bool) -> list[int]:
        chain = self._tag_chain(tag_id, inherit)
        return sorted({b for e, t, b in self.tagged if t in chain and (event is None or e <= event)})

    def _repo_since(self, tag_id: int, min_event: int) -> dict[str, Any] | None:
        ready = [r for r in self.repos if r["tag_id"] == tag_id and r["create_event"] >= min_event]
        return dict(ready[-1]) if ready else None

    def _new_repo(self) -> None:
        repo_id = len(self.repos) + 1
        now = time.time()
        self.repos.append(
            {
                "id": repo_id,
                "tag_id": 2,
                "tag_name": self.target["build_tag_name"],
                "state": koji.REPO_STATES["READY"],
                "create_event": self.last_event,
                "create_ts": now,
                "creation_time": time.ctime(now),
                "dist": False,
                "task_id": None,
                "opts": {"src": False, "debuginfo": False, "separate_src": False, "maven": False},
                "custom_opts": {},
                "begin_event": None,
                "end_event": None,
            }
        )

    def _regenerate_repos(self) -> None:
        """kojira: a new build tag repository once the tag has changed, `repo_delay` seconds later."""
        while not self.stopped.wait(0.05):
            with self.lock:
                changed = max((e for e, t, _ in self.tagged if t in (2, 3)), default=0)
                due = changed > self.repos[-1]["create_event"] and time.time() - self._changed_at >= self.repo_delay
                if due:
                    self._new_repo()

    _changed_at = 0.0

    def _run_build(self, parent: Task, srpm: Path, opts: dict[str, Any]) -> None:
        scratch = bool(opts.get("scratch"))
        with self.lock:
            parent.state, parent.start_ts, parent.host_id = TASK["ASSIGNED"], time.time(), 1
        time.sleep(0.05)  # a task waits ASSIGNED until its builder takes it
        child: Task | None = None
        try:
            with self.lock:
                parent.state = TASK["OPEN"]
                self._assert_build_allowed(srpm, scratch)
            rebuild = opts["rebuild_srpm"] if scratch and opts.get("rebuild_srpm") is not None else (
                self.build_tag_extra.get("rebuild_srpm", True))  # fmt: skip
            if rebuild:  # kojid's getSRPMFromSRPM: a rebuildSRPM subtask makes Koji's own copy of the SRPM
                srpm = self._rebuild_srpm(parent, srpm)
            with self.lock:
                buildarchs = read_header(srpm)["buildarchs"] or []
                arch = "noarch" if list(buildarchs) == ["noarch"] else "x86_64"
                child = self._task("buildArch", arch, parent.id, label=arch)
            with self.slots:
                if read_nevra(srpm).name in self.tracebacks:
                    raise ValueError("the builder broke")
                rpms = self._build_arch(child, srpm)
            with self.lock:
                if parent.done:
                    return
                if not scratch:
                    self._import(parent, srpm, rpms)
                parent.state, parent.completion_ts = TASK["CLOSED"], time.time()
        except Exception as exc:  # noqa: BLE001 - a builder's failure fails its task, as kojid reports it
            # kojid reports an error it did not expect as Fault(1, the formatted traceback)
            fault = exc if isinstance(exc, xmlrpc.client.Fault) else xmlrpc.client.Fault(1, _traceback(exc))
            with self.lock:
                for task in (child, parent):
                    if task is not None and not task.done:
                        task.state, task.fault, task.completion_ts = TASK["FAILED"], fault, time.time()

    def _assert_build_allowed(self, srpm: Path, scratch: bool) -> None:
        """What kojid's buildTask and the hub's initBuild check before a real build."""
        if scratch:
            return
        if "altai-release" not in self.srpm_builders:  # the owner of every task here
            said = "policy violation (build_from_srpm): Only admin can do this via default policy"
            raise xmlrpc.client.Fault(koji.ActionNotAllowed.faultCode, said)
        nevra = read_nevra(srpm)
        nvr = f"{nevra.name}-{nevra.version}-{nevra.release}"
        for build in self.builds.values():
            state = koji.BUILD_STATES[build["state"]]
            if build["nvr"] == nvr and state not in ("FAILED", "CANCELED"):
                said = f"Build already exists (id={build['build_id']}, state={state}): {nvr!r}"
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, said)

    def _rebuild_srpm(self, parent: Task, srpm: Path) -> Path:
        """kojid's rebuildSRPM: the SRPM rebuilt from itself in the build root (rpmbuild -rs), a new header."""
        with self.lock:
            task = self._task("rebuildSRPM", "noarch", parent.id)
            task.state, task.start_ts, task.host_id = TASK["OPEN"], time.time(), 1
        out = self.work / "tasks" / str(task.id)
        top = out / "top"
        (top / "SRPMS").mkdir(parents=True)
        subprocess.run(["rpmbuild", "-rs", "--nodeps", "--define", f"_topdir {top}", "--define", f"dist {self.dist}",
                        "--define", "_buildhost koji-builder", str(srpm)], check=True, capture_output=True)  # fmt: skip
        rebuilt = next((top / "SRPMS").glob("*.src.rpm"))
        with self.lock:
            task.outputs[rebuilt.name] = rebuilt
            task.state, task.completion_ts = TASK["CLOSED"], time.time()
        return rebuilt

    def _build_arch(self, task: Task, srpm: Path) -> list[Path]:
        out = self.work / "tasks" / str(task.id)
        out.mkdir(parents=True)
        with self.lock:
            task.state, task.start_ts, task.host_id = TASK["OPEN"], time.time(), 1
            repo = self.repos[-1]
            in_repo = set(self._in_tag(2, repo["create_event"], True))
            known = {cap: b for b, caps in self.provides.items() for cap in caps}
        hdr = read_header(srpm)
        missing = [br for br in hdr["requirename"] if br in known and known[br] not in in_repo]
        (out / "root.log").write_text(f"DEBUG util.py: build root from repo {repo['id']} of {repo['tag_name']}\n")
        (out / "state.log").write_text("INFO State Changed: init\n")
        task.outputs.update({n: out / n for n in ("root.log", "state.log")})
        if missing:
            with open(out / "root.log", "a") as log:
                for name in missing:
                    log.write(f"DEBUG util.py: No matching package to install: '{name}'\n")
                log.write("DEBUG util.py: Not all dependencies satisfied\nERROR: Command failed\n")
            (out / "build.log").write_text("")
            task.outputs["build.log"] = out / "build.log"
            raise xmlrpc.client.Fault(
                koji.BuildrootError.faultCode,
                _mock_failed(task.arch, 30, "root.log"),
            )
        deadline = time.time() + self.slow.get(read_nevra(srpm).name, self.build_seconds)
        while time.time() < deadline:
            if task.done:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"task {task.id} canceled")
            time.sleep(0.05)
        top = out / "top"
        rpmbuild = Rpmbuild(
            top,
            [("dist", self.dist)],
            self.macro_files,
            int(hdr["buildtime"]),
            readonly=sorted({m.parent for m in self.macro_files}),
            inputs={out / "in": INNER_TOPDIR / "SRPMS"},
        )
        rpmbuild.prepare()
        local = Path(shutil.copy2(srpm, out / "in" / srpm.name))
        try:
            rpms = rpmbuild.rebuild(local, out / "results", log=out / "build.log")
        except Exception as exc:
            task.outputs["build.log"] = out / "build.log"
            raise xmlrpc.client.Fault(
                koji.BuildError.faultCode,
                _mock_failed(task.arch, 1, "build.log"),
            ) from exc
        name = read_nevra(srpm).name
        if name in self.foreign:
            rpms = [self.foreign[name]]
        results = []
        for rpm in [*rpms, local]:
            results.append(Path(shutil.copy2(rpm, out / rpm.name)))
        with self.lock:
            listed = self.output_names.get(name)
            task.outputs.update(
                {(listed if listed and p.suffix == ".rpm" and p != results[-1] else p.name): p for p in results}
            )
            if name in self.understated:
                self.short.update(f"{task.id}/{p.name}" for p in results)
            task.outputs["build.log"] = out / "build.log"
            if task.done:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"task {task.id} canceled")
            rel = f"tasks/{task.id % 10000}/{task.id}"
            task.result = {
                "rpms": [f"{rel}/{p.name}" for p in results if not p.name.endswith(".src.rpm")],
                "srpms": [f"{rel}/{local.name}"],
                "logs": [f"{rel}/{n}" for n in ("build.log", "root.log", "state.log")],
                "brootid": task.id,
            }
            task.state, task.completion_ts = TASK["CLOSED"], time.time()
        return [p for p in results if not p.name.endswith(".src.rpm")] + [out / local.name]

    def _import(self, parent: Task, srpm: Path, files: list[Path]) -> None:
        """A real build: the build and its RPMs recorded, stored under topdir, tagged by a tagBuild task."""
        nevra = read_nevra(srpm)
        build_id = next(self._ids)
        nvr = f"{nevra.name}-{nevra.version}-{nevra.release}"
        build = {
            "build_id": build_id,
            "id": build_id,
            "name": nevra.name,
            "package_name": nevra.name,
            "version": nevra.version,
            "release": nevra.release,
            "epoch": nevra.epoch,
            "nvr": nvr,
            "state": koji.BUILD_STATES["COMPLETE"],
            "task_id": parent.id,
            "owner_id": 1,
            "owner_name": "altai-release",
            "volume_id": 0,
            "volume_name": "DEFAULT",
            "draft": False,
        }
        self.builds[build_id] = build
        rows, provides = [], set()
        for path in files:
            hdr = read_header(path)
            rpm_nevra = read_nevra(path)
            arch = rpm_nevra.arch
            dest = self.work / "packages" / nevra.name / nevra.version / nevra.release / arch / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
            rows.append(
                {
                    "id": next(self._ids),
                    "build_id": build_id,
                    "name": rpm_nevra.name,
                    "version": rpm_nevra.version,
                    "release": rpm_nevra.release,
                    "epoch": rpm_nevra.epoch,
                    "arch": arch,
                    "payloadhash": hdr["sigmd5"].hex(),
                    "size": dest.stat().st_size,
                    "buildtime": hdr["buildtime"],
                    "buildroot_id": 1,
                    "external_repo_id": 0,
                    "external_repo_name": "INTERNAL",
                    "metadata_only": False,
                    "extra": None,
                    "draft": False,
                }
            )
            if arch != "src":
                provides.update([rpm_nevra.name, *hdr["providename"]])
        self.rpms[build_id], self.provides[build_id] = rows, provides
        tag_task = self._task("tagBuild", "noarch", parent.id)
        self.last_event = next(self._events)
        self.tagged.append((self.last_event, 3, build_id))
        self._changed_at = time.time()
        tag_task.state, tag_task.completion_ts = TASK["CLOSED"], time.time()

    def serve_file(self, relpath: str) -> Path | None:
        """topurl: /kojifiles/packages/N/V/R/ARCH/FILE, and a task's output at /kojifiles/work/tasks/N/ID/FILE
        (koji.PathInfo.task: N is the id modulo 10000)."""
        parts = relpath.split("/")
        if any(p in ("", ".", "..") for p in parts):
            return None
        if len(parts) == 5 and parts[:2] == ["work", "tasks"] and parts[3].isdigit() and self.serve_task_outputs:
            with self.lock:
                task = self.tasks.get(int(parts[3]))
                path = task.outputs.get(parts[4]) if task and parts[2] == str(task.id % 10000) else None
            return path if path is not None and path.is_file() else None
        if len(parts) != 6 or parts[0] != "packages":
            return None
        path = self.work.joinpath(*parts)
        return path if path.is_file() else None


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _mock_failed(arch: str, status: int, log: str) -> str:
    """kojid's BuildRoot.build failure message."""
    return f"error building package (arch {arch}), mock exited with status {status}; see {log} for more information"


def _handler(hub: FakeKojiHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            with hub.lock:
                hub.connections.append(self.connection)

        def _peer_cn(self) -> str | None:
            cert = self.connection.getpeercert()
            if not cert:
                return None
            return next((v for rdn in cert["subject"] for k, v in rdn if k == "commonName"), None)

        def _reply(self, body: bytes, content_type: str = "text/xml", status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Koji-Version", KOJI_VERSION)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if hub.stopped.is_set():
                self.close_connection = True
                return
            url = urllib.parse.urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                if url.path not in ("/kojihub", "/kojihub/ssllogin"):
                    self._reply(b"not found", "text/plain", 404)
                    return
                if self.headers.get("Content-Type") == "application/octet-stream":
                    query = dict(urllib.parse.parse_qsl(url.query))
                    result: Any = hub.raw_upload(query, body, self.headers)
                else:
                    params, method = xmlrpc.client.loads(body, use_builtin_types=True)
                    assert method is not None
                    if (method == "sslLogin") != (url.path == "/kojihub/ssllogin"):
                        raise xmlrpc.client.Fault(koji.AuthError.faultCode, f"{method} sent to {url.path}")
                    result = hub.dispatch(method, params, self.headers, self._peer_cn())
                response = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True)
            except xmlrpc.client.Fault as fault:
                response = xmlrpc.client.dumps(fault, methodresponse=True, allow_none=True)
            self._reply(response.encode())

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            with hub.lock:
                hub.calls.append(("GET", (url.path,), {}))
            path = hub.serve_file(url.path.removeprefix("/kojifiles/")) if url.path.startswith("/kojifiles/") else None
            if path is None:
                self._reply(b"not found", "text/plain", 404)
                return
            self._reply(path.read_bytes(), "application/x-rpm")

    return Handler
