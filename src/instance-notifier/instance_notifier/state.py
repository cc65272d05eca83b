"""What the daemon knows of each server, and the transitions worth a notification.

A server is reported dead only after `dead_after` consecutive polls found it dead (one lost packet is
no alarm); it is reported alive again at the first poll that finds it alive after it was reported
dead. A server seen for the first time is reported only if it is dead (after `dead_after` polls)."""

import json
import os
import stat
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


MAX_STATE_BYTES = 256 * 1024 * 1024


def _read_regular(path: str) -> str:
    """The state file's text: a regular file (a FIFO would hang the start), within a bound."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError("not a regular file")
        if info.st_size > MAX_STATE_BYTES:
            raise OSError("%d bytes, more than a state file may have" % info.st_size)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as raw:
            return raw.read(MAX_STATE_BYTES + 1).decode("utf-8")
    finally:
        os.close(fd)


class StateFileError(ValueError):
    """The state file is not one this daemon wrote: named, never overwritten."""


class ServerState(object):
    def __init__(
        self, project_id: str, reported: Optional[str] = None, dead_polls: int = 0, missing_polls: int = 0
    ) -> None:
        self.project_id = project_id
        self.reported = reported
        self.dead_polls = dead_polls
        self.missing_polls = missing_polls  # polls in a row whose list lacked it


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
            data = json.loads(_read_regular(self.path))
        except FileNotFoundError:
            self.servers, self.undelivered = {}, {}
            return
        except (OSError, ValueError) as exc:
            raise StateFileError(
                "%s: not a readable instance-notifier state file (%s); move it away to start afresh" % (self.path, exc)
            ) from exc
        try:
            self.servers = {
                sid: ServerState(
                    str(s["project_id"]), s.get("reported"), int(s.get("dead_polls", 0)), int(s.get("missing_polls", 0))
                )
                for sid, s in data.get("servers", {}).items()
            }
            self.undelivered = {
                channel: [Event(**e) for e in events] for channel, events in (data.get("undelivered") or {}).items()
            }
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise StateFileError(
                "%s: not an instance-notifier state file (%s: %s); move it away to start afresh"
                % (self.path, type(exc).__name__, exc)
            ) from exc

    def save(self) -> None:
        """Atomically: a crash leaves the previous file or the new one. Never a file load() would refuse: a
        state beyond MAX_STATE_BYTES is not written (ValueError), the previous file stays."""
        data = {
            "servers": {
                sid: {
                    "project_id": s.project_id,
                    "reported": s.reported,
                    "dead_polls": s.dead_polls,
                    "missing_polls": s.missing_polls,
                }
                for sid, s in sorted(self.servers.items())
            },
            "undelivered": {
                channel: [e.as_dict() for e in events] for channel, events in sorted(self.undelivered.items()) if events
            },
        }
        text = json.dumps(data, separators=(",", ":"))
        if len(text) > MAX_STATE_BYTES:  # ASCII: json.dumps escapes the rest
            raise ValueError("the state is %d bytes, more than a state file may have: not written" % len(text))
        # a link (the operator keeps the state elsewhere) is written through, not replaced by a file
        target = os.path.realpath(self.path) if os.path.islink(self.path) else self.path
        directory = os.path.dirname(os.path.abspath(target))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
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
            state.missing_polls = 0
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
        for missing in set(self.servers) - seen:
            # a deleted server is no news, but one empty or partial list (a Nova hiccup) must not make the
            # daemon forget a dead server (alerted again) or one it will see recover (the recovery lost)
            state = self.servers[missing]
            state.missing_polls += 1
            if state.missing_polls > max(self.dead_after, 3):
                del self.servers[missing]
        return events
