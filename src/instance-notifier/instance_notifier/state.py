"""What the daemon knows of each server, and the transitions worth a notification.

A server is reported dead only after `dead_after` consecutive polls found it dead (one lost packet is
no alarm); it is reported alive again at the first poll that finds it alive after it was reported
dead. A server seen for the first time is reported only if it is dead (after `dead_after` polls)."""

import json
import os
import tempfile
import time
from typing import Dict, Iterable, List, NamedTuple, Optional


class Observation(NamedTuple):
    server_id: str
    project_id: str
    alive: bool


class Event(NamedTuple):
    server_id: str
    project_id: str
    state: str  # "dead" or "alive"
    previous: Optional[str]  # what was reported before: "alive", "dead" or None (never seen)
    time: str

    def as_dict(self) -> dict:
        return dict(self._asdict())


class ServerState(object):
    def __init__(self, project_id: str, reported: Optional[str] = None, dead_polls: int = 0) -> None:
        self.project_id = project_id
        self.reported = reported
        self.dead_polls = dead_polls


class StateBook(object):
    def __init__(self, path: str, dead_after: int = 2) -> None:
        self.path = path
        self.dead_after = max(1, int(dead_after))
        self.servers: Dict[str, ServerState] = {}
        # notifications not yet delivered, per channel: saved with the states that raised them, so that a
        # restart delivers what a failing channel still owed (the state file says "reported" already)
        self.undelivered: Dict[str, List[Event]] = {}
        self.load()

    def load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as fd:
                data = json.load(fd)
            self.servers = {
                sid: ServerState(s["project_id"], s.get("reported"), int(s.get("dead_polls", 0)))
                for sid, s in data.get("servers", {}).items()
            }
            self.undelivered = {
                channel: [Event(**e) for e in events] for channel, events in (data.get("undelivered") or {}).items()
            }
        except FileNotFoundError:
            self.servers, self.undelivered = {}, {}

    def save(self) -> None:
        """Atomically: a crash leaves the previous file or the new one."""
        data = {
            "servers": {
                sid: {"project_id": s.project_id, "reported": s.reported, "dead_polls": s.dead_polls}
                for sid, s in sorted(self.servers.items())
            },
            "undelivered": {
                channel: [e.as_dict() for e in events] for channel, events in sorted(self.undelivered.items()) if events
            },
        }
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def update(self, observations: Iterable[Observation], now: Optional[float] = None) -> List[Event]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        events = []
        seen = set()
        for obs in observations:
            seen.add(obs.server_id)
            state = self.servers.setdefault(obs.server_id, ServerState(obs.project_id))
            state.project_id = obs.project_id
            if obs.alive:
                state.dead_polls = 0
                if state.reported == "dead":
                    events.append(Event(obs.server_id, obs.project_id, "alive", "dead", stamp))
                state.reported = "alive"
            else:
                state.dead_polls += 1
                if state.dead_polls >= self.dead_after and state.reported != "dead":
                    events.append(Event(obs.server_id, obs.project_id, "dead", state.reported, stamp))
                    state.reported = "dead"
        for gone in set(self.servers) - seen:  # deleted servers are no news
            del self.servers[gone]
        return events
