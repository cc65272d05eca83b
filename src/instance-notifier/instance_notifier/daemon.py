"""The poll loop, and a courier thread per channel that delivers. SIGTERM: stop after the current poll (the
couriers get a moment to finish a delivery; what they still owe is saved). SIGHUP: read the configuration
again before the next poll (the known states and undelivered notifications are kept; a delivery in flight
ends first, so that it is neither sent twice nor lost).

A poll saves the states with the notifications they raise, at once. What the couriers deliver is saved at
most every SAVE_EVERY seconds (a channel delivering thousands a second does not rewrite the file for each
round): a crash in between sends those again after the restart, never loses one.

Nothing a channel does holds the polls: a webhook that never answers delays its own deliveries only. A
state file that cannot be written (a read-only directory, a full disk) is said once, and the daemon goes on
polling and delivering; a restart would then report again what it had reported."""

import logging
import os
import signal
import threading
import time
from typing import Callable, Dict, List, Optional

from instance_notifier.channels import Courier, Outbox
from instance_notifier.config import ApiUnavailable, Settings
from instance_notifier.state import StateBook

LOG = logging.getLogger("instance-notifier")
STOP_GRACE = 2.0  # seconds the couriers get to end a delivery in flight when the daemon stops
SAVE_EVERY = 2.0  # seconds between two saves of what the couriers delivered


class Daemon(object):
    def __init__(self, config_path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.config_path = os.path.abspath(config_path)  # read again on SIGHUP, after daemonizing (cwd /)
        self.clock = clock
        self.stopping = False
        self.reloading = False
        self.wake = threading.Event()
        self.outboxes: List[Outbox] = []
        self.couriers: List[Courier] = []
        self.book: Optional[StateBook] = None
        self.retry_at: Optional[float] = None  # a rate-limited poll is tried again then, not a whole interval later
        self._save_lock = threading.Lock()
        self._save_failing = False
        self._saved_at = 0.0
        self._unsaved = False  # deliveries since the last save
        self.configure()

    def configure(self) -> None:
        settings = Settings(self.config_path)
        fetch = settings.fetcher()
        running = bool(self.couriers)
        # a delivery in flight ends (within its channel's deadline) before the owed ones move to the new
        # outboxes: taken while it runs, it would be sent again by the new courier
        self._stop_couriers(max([STOP_GRACE, settings.email_timeout, settings.webhook_timeout]) + 1.0)
        pending = {box.name: box.events() for box in self.outboxes}
        outboxes = []
        now = self.clock()
        for channel in settings.channels():
            box = Outbox(channel, settings.retry_base, settings.retry_max, bound=settings.outbox_max)
            box.add(pending.get(box.name, []), now)
            outboxes.append(box)
        self.settings, self.fetch, self.outboxes = settings, fetch, outboxes
        if self.book is None or self.book.path != settings.state_file:
            self.book = StateBook(settings.state_file, settings.dead_after)
            for box in outboxes:  # what a failing channel still owed when the daemon stopped
                box.add(self.book.undelivered.get(box.name, []), now)
        self.book.dead_after = settings.dead_after
        if running:
            self._start_couriers()

    def poll(self) -> int:
        """One poll; returns the number of notifications it raised."""
        assert self.book is not None
        try:
            observations = self.fetch()
        except ApiUnavailable as exc:
            LOG.error("os-fping unavailable, no news this time: %s", exc)
            if exc.retry_after is not None and exc.retry_after < self.settings.interval:
                self.retry_at = self.clock() + exc.retry_after + 1  # the limit frees a call then: the round is not lost
            return 0
        self.retry_at = None
        events = self.book.update(observations)
        now = self.clock()
        for box in self.outboxes:
            box.add(events, now)
        self.save()  # the new states and the notifications they owe, in one atomic write
        return len(events)

    def delivered(self) -> None:
        """A courier delivered: saved now if the last save is SAVE_EVERY old, else by the poll loop soon."""
        if time.monotonic() - self._saved_at >= SAVE_EVERY:
            self.save()
        else:
            self._unsaved = True
            self.wake.set()

    def save(self) -> None:
        """The states and what every channel still owes; a failure is said once, and the daemon goes on."""
        assert self.book is not None
        with self._save_lock:
            self._unsaved = False
            self._saved_at = time.monotonic()
            self.book.undelivered = {box.name: box.events() for box in self.outboxes}
            try:
                self.book.save()
            except (OSError, ValueError) as exc:
                if not self._save_failing:
                    LOG.error(
                        "cannot save the state to %s: %s; polling and delivering go on (a restart would report "
                        "again what was reported since)",
                        self.book.path,
                        exc,
                    )
                self._save_failing = True
                return
            if self._save_failing:
                LOG.info("the state is saved again to %s", self.book.path)
            self._save_failing = False

    def deliver(self) -> None:
        """Every channel's due notifications, in this thread (--once)."""
        for box in self.outboxes:
            box.deliver(self.clock())
        self.save()

    def _start_couriers(self) -> None:
        self.couriers = [Courier(box, self.clock, self.delivered) for box in self.outboxes]
        for courier in self.couriers:
            courier.start()

    def _stop_couriers(self, grace: float = STOP_GRACE) -> None:
        for courier in self.couriers:
            courier.stop()
        deadline = time.monotonic() + grace
        for courier in self.couriers:
            courier.join(max(0.0, deadline - time.monotonic()))
        self.couriers = []

    def install_signals(self) -> None:
        def stop(_signum: int, _frame: object) -> None:
            self.stop()

        def reload(_signum: int, _frame: object) -> None:
            self.reloading = True
            self.wake.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    def run(self) -> None:
        LOG.info("polling %s every %ss", self.settings.api["url"], self.settings.interval)
        self._start_couriers()
        try:
            while not self.stopping:
                self._reload_if_asked()
                started = self.clock()
                self.poll()
                next_poll = self.retry_at or started + self.settings.interval
                while not (self.stopping or self.reloading) and self.clock() < next_poll:
                    self.wake.wait(max(0.05, min(next_poll - self.clock(), SAVE_EVERY)))
                    self.wake.clear()
                    if self._unsaved and time.monotonic() - self._saved_at >= SAVE_EVERY:
                        self.save()
        finally:
            self._stop_couriers()
            self.save()  # what the couriers still owe, for the next start
        LOG.info("stopped")

    def _reload_if_asked(self) -> None:
        if self.reloading:
            self.reloading = False
            try:
                self.configure()
                LOG.info("configuration reloaded from %s", self.config_path)
            except Exception as exc:  # a bad edit keeps the running configuration
                LOG.error("configuration not reloaded: %s", exc)

    def pending(self) -> Dict[str, int]:
        return {box.name: len(box.events()) for box in self.outboxes}
