"""Calls per project per period, as Nova's limiter counted them (a sliding window), counting only the
calls that were answered: a call is reserved before it runs and given back when it is refused (4xx, 5xx).

Without a state file the count lives in the process (the console script runs one process, many threads).
With `[rate_limit] state_file` it lives in an SQLite database on the host, so that every worker process of
mod_wsgi or uWSGI shares one count."""

import collections
import itertools
import os
import sqlite3
import threading
import time
from typing import Callable, Deque, Dict, Optional, Tuple

Reservation = Tuple[str, int]
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, key TEXT, at REAL)",
    "CREATE INDEX IF NOT EXISTS calls_key ON calls (key, at)",
)


class RateLimitUnavailable(Exception):
    """The shared count cannot be read or written (its file unwritable, corrupt, on a full disk): a 503."""


class RateLimiter:
    def __init__(
        self,
        calls: int = 12,
        period: float = 3600.0,
        clock: Callable[[], float] = time.time,
        state_file: Optional[str] = None,
        lock_timeout: float = 2.0,
    ) -> None:
        self.calls = int(calls)
        self.period = float(period)
        self.clock = clock
        self.state_file = state_file or None
        self.lock_timeout = float(lock_timeout)
        self._seen: Dict[str, Deque[Tuple[float, int]]] = collections.defaultdict(collections.deque)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        if self.state_file:
            os.makedirs(os.path.dirname(os.path.abspath(self.state_file)), exist_ok=True)
            self._db().close()

    def _db(self) -> sqlite3.Connection:
        """A connection to the shared count, its table made again if the file went away since."""
        assert self.state_file is not None
        try:
            db = sqlite3.connect(self.state_file, timeout=self.lock_timeout, isolation_level=None)
            for statement in _SCHEMA:
                db.execute(statement)
        except sqlite3.Error as exc:
            raise RateLimitUnavailable("rate limit state %s: %s" % (self.state_file, exc)) from exc
        return db

    def reserve(self, key: str) -> Tuple[int, Optional[Reservation]]:
        """(0, reservation) when the call may go ahead; else (seconds until it may, None)."""
        if self.calls <= 0:
            return 0, None
        now = self.clock()
        if self.state_file:
            return self._reserve_shared(key, now)
        with self._lock:
            seen = self._seen[key]
            if seen and seen[-1][0] > now:  # the clock went back: what it counted is "now", no later
                self._seen[key] = seen = collections.deque((min(at, now), ident) for at, ident in seen)
            while seen and seen[0][0] <= now - self.period:
                seen.popleft()
            if len(seen) >= self.calls:
                return max(1, int(seen[0][0] + self.period - now + 0.999)), None
            ident = next(self._ids)
            seen.append((now, ident))
            return 0, (key, ident)

    def _reserve_shared(self, key: str, now: float) -> Tuple[int, Optional[Reservation]]:
        db = self._db()
        try:
            return self._count_and_insert(db, key, now)
        except sqlite3.Error as exc:
            raise RateLimitUnavailable("rate limit state %s: %s" % (self.state_file, exc)) from exc
        finally:
            db.close()

    def _count_and_insert(self, db: sqlite3.Connection, key: str, now: float) -> Tuple[int, Optional[Reservation]]:
        db.execute("BEGIN IMMEDIATE")  # one writer at a time across processes: count and insert together
        # a row of the future (a clock that went back, a host whose clock runs ahead) counts as now: it
        # must not hold a project off for longer than one period
        db.execute("UPDATE calls SET at = ? WHERE key = ? AND at > ?", (now, key, now))
        db.execute("DELETE FROM calls WHERE key = ? AND at <= ?", (key, now - self.period))
        count, oldest = db.execute("SELECT COUNT(*), MIN(at) FROM calls WHERE key = ?", (key,)).fetchone()
        if count >= self.calls:
            db.execute("COMMIT")
            return max(1, int(oldest + self.period - now + 0.999)), None
        ident = db.execute("INSERT INTO calls (key, at) VALUES (?, ?)", (key, now)).lastrowid
        db.execute("COMMIT")
        return 0, (key, int(ident or 0))

    def release(self, reservation: Optional[Reservation]) -> None:
        """Give back a reserved call that was refused."""
        if reservation is None:
            return
        key, ident = reservation
        if self.state_file:
            try:
                db = self._db()
                try:
                    db.execute("DELETE FROM calls WHERE id = ?", (ident,))
                finally:
                    db.close()
            except (sqlite3.Error, RateLimitUnavailable):
                pass  # the call stays counted: the caller was answered already, and the count errs on the safe side
            return
        with self._lock:
            self._seen[key] = collections.deque(item for item in self._seen[key] if item[1] != ident)

    def check(self, key: str) -> int:
        """0 when the call may go ahead (and is counted); else the seconds until it may."""
        return self.reserve(key)[0]
