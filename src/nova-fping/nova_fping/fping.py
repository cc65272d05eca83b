"""One fping process for all the addresses of a request, and at most a few of them at once.

fping loads the API node (that is why Nova limited os-fping to 12 calls an hour): `FpingGate` lets
`max_concurrent` fping processes run, keeps at most `max_waiting` requests waiting for one, and refuses
the rest at once (503 with Retry-After) instead of queueing without bound. A request waits and probes
within its deadline (`request_timeout`)."""

import contextlib
import ipaddress
import logging
import os
import subprocess
import threading
import time
import weakref
from typing import Dict, Iterable, List, Optional, Set, Tuple

log = logging.getLogger(__name__)


class FpingUnavailable(Exception):
    """fping is missing, not executable, failed (exit status 3 or 4) or ran out of time: a 503. `busy`: refused
    because too many calls wait for fping, which counts against the caller's rate limit as a call (else
    a project could repeat such calls for free, and hold the gate against the others)."""

    def __init__(self, message: str, retry_after: Optional[int] = None, busy: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.busy = busy


def canonical(address: str) -> str:
    """The one spelling of an address (raises ValueError for anything that is not an IP address)."""
    return str(ipaddress.ip_address(address.strip()))


class FpingGate:
    """At most `max_concurrent` holders, at most `max_waiting` waiting for a place; and fair between callers
    (the key: a project): one holds at most half the places and waits in at most half the queue, so that one
    admin's dozen all_tenants calls cannot keep another project's single address waiting."""

    def __init__(self, max_concurrent: int = 4, max_waiting: int = 64) -> None:
        self.max_concurrent = max(1, int(max_concurrent))
        self.max_waiting = max(0, int(max_waiting))
        self.per_key = max(1, self.max_concurrent // 2)
        self.waiting_per_key = max(1, self.max_waiting // 2)
        self._cond = threading.Condition()
        self._held = 0
        self._holding: Dict[str, int] = {}
        self._waiting: Dict[str, int] = {}

    def _free(self, key: str) -> bool:
        return self._held < self.max_concurrent and self._holding.get(key, 0) < self.per_key

    def _take(self, key: str) -> None:
        self._held += 1
        self._holding[key] = self._holding.get(key, 0) + 1

    def acquire(self, timeout: float, key: str = "") -> None:
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            if self._free(key):
                self._take(key)
                return
            waits_own = self._waiting.get(key, 0) >= self.waiting_per_key
            if waits_own or sum(self._waiting.values()) >= self.max_waiting:
                # counted against the caller only when its own share is full: a gate full of other projects'
                # calls is not this caller's doing
                own = waits_own or self._holding.get(key, 0) >= self.per_key
                raise FpingUnavailable("too many os-fping requests at once; try again shortly", 5, busy=own)
            self._waiting[key] = self._waiting.get(key, 0) + 1
            try:
                while not self._free(key):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise FpingUnavailable("no fping slot within the request's deadline", retry_after=10)
                    self._cond.wait(remaining)
                self._take(key)
            finally:
                self._waiting[key] -= 1
                if not self._waiting[key]:
                    del self._waiting[key]

    def release(self, key: str = "") -> None:
        with self._cond:
            self._held -= 1
            self._holding[key] -= 1
            if not self._holding[key]:
                del self._holding[key]
            self._cond.notify_all()


_PROBERS: "weakref.WeakSet[FpingProber]" = weakref.WeakSet()


def stop_all() -> None:
    """The service stops: every prober's running fping ended, and every request still probing answered 503."""
    for prober in list(_PROBERS):
        prober.stop()


class FpingProber:
    def __init__(
        self,
        path: str = "/usr/bin/fping",
        timeout_ms: int = 500,
        retries: int = 1,
        gate: Optional[FpingGate] = None,
        request_timeout: float = 60.0,
    ) -> None:
        self.path = path
        self.timeout_ms = int(timeout_ms)
        self.retries = int(retries)
        self.gate = gate or FpingGate()
        self.request_timeout = float(request_timeout)
        self.stopping = threading.Event()
        self._running: Set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        _PROBERS.add(self)

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            running = list(self._running)
        for proc in running:
            with contextlib.suppress(OSError):
                proc.kill()

    def _refuse_if_stopping(self) -> None:
        if self.stopping.is_set():
            raise FpingUnavailable("the service is stopping; try again shortly", retry_after=5)

    def argv(self, addresses: List[str]) -> List[str]:
        # -t: per-target timeout, -r: retries, -B1: no back-off, so that the time is bounded and known
        return [self.path, "-t", str(self.timeout_ms), "-r", str(self.retries), "-B1"] + addresses

    def probe(self, addresses: Iterable[str], key: str = "") -> Dict[str, bool]:
        """{address: alive} for every address; one fping process, never a shell. An address fping cannot
        use (exit status 2: "Name or service not known") is not alive and does not fail the others."""
        targets, unusable = [], []
        for address in set(addresses):
            try:
                targets.append(canonical(address))
            except ValueError:
                unusable.append(address)
        if unusable:
            log.warning("not an IP address fping can probe: %s: judged not alive", ", ".join(sorted(unusable)))
        targets = sorted(set(targets))
        if not targets:
            return {}
        if not (os.path.isfile(self.path) and os.access(self.path, os.X_OK)):
            raise FpingUnavailable("fping is not installed or not executable at %s" % self.path)
        deadline = time.monotonic() + self.request_timeout
        self._refuse_if_stopping()
        self.gate.acquire(deadline - time.monotonic(), key)
        try:
            self._refuse_if_stopping()
            returncode, stdout, stderr = self._run(self.argv(targets), max(1.0, deadline - time.monotonic()))
        finally:
            self.gate.release(key)
        if returncode not in (0, 1, 2):
            tail = (stderr.strip().splitlines() or ["no message"])[-1]
            raise FpingUnavailable("fping failed with exit status %d: %s" % (returncode, tail))
        alive = dict.fromkeys(targets, False)
        answered = set()
        for line in stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "is":
                try:
                    address = canonical(parts[0])
                except ValueError:
                    continue
                if address in alive:
                    alive[address] = parts[2] == "alive"
                    answered.add(address)
        if returncode == 2:
            unusable = sorted(set(targets) - answered)
            log.warning("fping cannot use %s (%s): judged not alive", ", ".join(unusable), stderr.strip())
        return alive

    def _run(self, argv: List[str], timeout: float) -> Tuple[int, str, str]:
        """(exit status, stdout, stderr) of one fping, which stop() can end: a child is never left behind."""
        try:
            proc = subprocess.Popen(  # noqa: S603 - an argv list of canonical addresses, no shell
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                universal_newlines=True,
            )
        except OSError as exc:
            raise FpingUnavailable("fping could not run: %s" % exc) from exc
        with self._lock:
            self._running.add(proc)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            raise FpingUnavailable("fping did not finish within %gs" % self.request_timeout, retry_after=60) from exc
        finally:
            with self._lock:
                self._running.discard(proc)
        self._refuse_if_stopping()  # ended by stop(): its output is not an answer
        return proc.returncode, stdout, stderr
