"""A task of the fake hub, with getTaskInfo's keys."""

from __future__ import annotations

import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import koji

TASK = koji.TASK_STATES
KOJI_VERSION = "1.36.1"


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
