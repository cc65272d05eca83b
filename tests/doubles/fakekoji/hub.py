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
import contextlib
import inspect
import itertools
import socket
import ssl
import threading
import time
import xmlrpc.client
from collections.abc import Sequence
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import koji

from .calls import HubCalls
from .farm import Farm
from .server import handler_for
from .tasks import Task


class FakeKojiHub(HubCalls, Farm):
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
        self.rpm_files: dict[int, Path] = {}  # rpm id -> its file (getRPMHeaders reads it)
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
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self))
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
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

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
