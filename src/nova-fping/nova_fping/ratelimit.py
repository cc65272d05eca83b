"""Calls per project per period, as Nova's limiter counted them (a sliding window)."""

import collections
import threading
import time
from typing import Callable, Deque, Dict


class RateLimiter:
    def __init__(self, calls: int = 12, period: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        self.calls = int(calls)
        self.period = float(period)
        self.clock = clock
        self._seen: Dict[str, Deque[float]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def check(self, key: str) -> int:
        """0 when the call may go ahead (and is counted); else the seconds until it may."""
        if self.calls <= 0:
            return 0
        now = self.clock()
        with self._lock:
            seen = self._seen[key]
            while seen and seen[0] <= now - self.period:
                seen.popleft()
            if len(seen) >= self.calls:
                return max(1, int(seen[0] + self.period - now + 0.999))
            seen.append(now)
            return 0
