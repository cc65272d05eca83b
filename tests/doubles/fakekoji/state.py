"""What the fake hub knows, and the helpers its calls and its farm share: tasks, tags, repositories,
uploads."""

from __future__ import annotations

import itertools
import socket
import threading
import time
import xmlrpc.client
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import koji

from .tasks import Task


class HubState:
    work: Path
    certs: dict[str, Path]
    dist: str
    macro_files: list[Path]
    build_seconds: float
    repo_delay: float
    users: dict[str, int]
    srpm_builders: set[str]
    build_tag_extra: dict[str, Any]
    package_list: set[str] | None
    tracebacks: set[str]
    serve_task_outputs: bool
    target: dict[str, Any]
    tags: dict[int, str]
    lock: threading.RLock
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]
    timeline: list[tuple[float, str, tuple[Any, ...], dict[str, Any]]]
    sessions: dict[int, dict[str, Any]]
    tasks: dict[int, Task]
    builds: dict[int, dict[str, Any]]
    rpms: dict[int, list[dict[str, Any]]]
    rpm_files: dict[int, Path]
    provides: dict[int, set[str]]
    tagged: list[tuple[int, int, int]]
    repos: list[dict[str, Any]]
    requests: dict[int, dict[str, Any]]
    foreign: dict[str, Path]
    slow: dict[str, float]
    output_names: dict[str, str]
    understated: set[str]
    short: set[str]
    slots: threading.Semaphore
    _ids: itertools.count[int]
    _events: itertools.count[int]
    last_event: int
    stopped: threading.Event
    connections: list[socket.socket]
    httpd: ThreadingHTTPServer

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

    def _upload_path(self, path: str, name: str) -> Path:
        if path.startswith("/") or ".." in path.split("/") or "/" in name or name.startswith("."):
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"invalid upload path {path}/{name}")
        return self.work / "uploads" / path / name

    def _run_build(self, parent: Task, srpm: Path, opts: dict[str, Any]) -> None:
        raise NotImplementedError  # the farm's (farm.Farm): a build task on the builders
