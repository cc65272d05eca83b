"""The poll loop. SIGTERM: stop after the current poll. SIGHUP: read the configuration again before
the next poll (the known states and undelivered notifications are kept)."""

import logging
import signal
import threading
import time
from typing import Callable, Dict, List, Optional

from instance_notifier.channels import Outbox
from instance_notifier.config import ApiUnavailable, Settings
from instance_notifier.state import StateBook

LOG = logging.getLogger("instance-notifier")


class Daemon(object):
    def __init__(self, config_path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.config_path = config_path
        self.clock = clock
        self.stopping = False
        self.reloading = False
        self.wake = threading.Event()
        self.outboxes: List[Outbox] = []
        self.book: Optional[StateBook] = None
        self.configure()

    def configure(self) -> None:
        settings = Settings(self.config_path)
        fetch = settings.fetcher()
        pending = {box.channel.name: box.pending for box in self.outboxes}  # type: ignore[attr-defined]
        outboxes = []
        for channel in settings.channels():
            box = Outbox(channel, settings.retry_base, settings.retry_max)
            box.pending = pending.get(channel.name, [])  # type: ignore[attr-defined]
            outboxes.append(box)
        self.settings, self.fetch, self.outboxes = settings, fetch, outboxes
        if self.book is None or self.book.path != settings.state_file:
            self.book = StateBook(settings.state_file, settings.dead_after)
            now = self.clock()
            for box in outboxes:  # what a failing channel still owed when the daemon stopped
                for event in self.book.undelivered.get(box.channel.name, []):  # type: ignore[attr-defined]
                    box.add(event, now)
        self.book.dead_after = settings.dead_after

    def poll(self) -> int:
        """One poll; returns the number of notifications it raised."""
        assert self.book is not None
        try:
            observations = self.fetch()
        except ApiUnavailable as exc:
            LOG.error("os-fping unavailable, no news this time: %s", exc)
            return 0
        events = self.book.update(observations)
        now = self.clock()
        for event in events:
            for box in self.outboxes:
                box.add(event, now)
        self._save()  # the new states and the notifications they owe, in one atomic write
        self.deliver()
        return len(events)

    def _save(self) -> None:
        assert self.book is not None
        self.book.undelivered = {
            box.channel.name: [p.event for p in box.pending]  # type: ignore[attr-defined]
            for box in self.outboxes
        }
        self.book.save()

    def deliver(self) -> None:
        now = self.clock()
        owed = sum(len(box.pending) for box in self.outboxes)
        for box in self.outboxes:
            box.deliver(now)
        if sum(len(box.pending) for box in self.outboxes) != owed:
            self._save()

    def install_signals(self) -> None:
        def stop(_signum: int, _frame: object) -> None:
            self.stopping = True
            self.wake.set()

        def reload(_signum: int, _frame: object) -> None:
            self.reloading = True
            self.wake.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    def run(self) -> None:
        LOG.info("polling %s every %ss", self.settings.api["url"], self.settings.interval)
        while not self.stopping:
            if self.reloading:
                self.reloading = False
                try:
                    self.configure()
                    LOG.info("configuration reloaded from %s", self.config_path)
                except Exception as exc:  # a bad edit keeps the running configuration
                    LOG.error("configuration not reloaded: %s", exc)
            started = self.clock()
            self.poll()
            next_poll = started + self.settings.interval
            while not (self.stopping or self.reloading):
                now = self.clock()
                if now >= next_poll:
                    break
                dues = [d for d in (box.next_due() for box in self.outboxes) if d is not None]
                self.wake.wait(max(0.05, min([next_poll] + dues) - now))
                self.wake.clear()
                self.deliver()
        LOG.info("stopped")

    def pending(self) -> Dict[str, int]:
        return {box.channel.name: len(box.pending) for box in self.outboxes}  # type: ignore[attr-defined]
