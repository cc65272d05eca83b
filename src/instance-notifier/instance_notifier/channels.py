"""Notification channels (log, e-mail, webhook) and the outbox that retries a failing channel with
exponential back-off without holding up the poll loop or the other channels."""

import json
import logging
import smtplib
import threading
import urllib.request
from email.message import EmailMessage
from typing import Callable, Dict, List, Optional

from instance_notifier.state import Event

LOG = logging.getLogger("instance-notifier")


def describe(event: Event) -> str:
    if event.state == "dead":
        return "instance %s of project %s stopped answering ping" % (event.server_id, event.project_id)
    return "instance %s of project %s answers ping again" % (event.server_id, event.project_id)


class LogChannel(object):
    name = "log"

    def send(self, event: Event) -> None:
        (LOG.warning if event.state == "dead" else LOG.info)("%s (at %s)", describe(event), event.time)


class EmailChannel(object):
    name = "email"

    def __init__(
        self, host: str, port: int, sender: str, recipients: Dict[str, List[str]], timeout: float = 10.0
    ) -> None:
        self.host, self.port, self.sender, self.timeout = host, int(port), sender, timeout
        self.recipients = recipients  # project -> addresses; "*" for every project

    def send(self, event: Event) -> None:
        to = self.recipients.get(event.project_id) or self.recipients.get("*") or []
        if not to:
            return
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = "[%s] instance %s is %s" % (
            event.project_id,
            event.server_id,
            "DOWN" if event.state == "dead" else "UP again",
        )
        message.set_content(
            "%s at %s.\n\nserver: %s\nproject: %s\nstate: %s\nprevious: %s\n"
            % (describe(event), event.time, event.server_id, event.project_id, event.state, event.previous)
        )
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(message)


class WebhookChannel(object):
    name = "webhook"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("[webhook] url must be http:// or https://, not %r" % url)
        self.url, self.timeout = url, timeout

    def send(self, event: Event) -> None:
        body = json.dumps({"event": "instance." + event.state, **event.as_dict()}).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - checked above
            if not 200 <= response.status < 300:
                raise OSError("webhook answered %d" % response.status)


class _Pending(object):
    def __init__(self, event: Event, due: float) -> None:
        self.event, self.due, self.attempts = event, due, 0


class Outbox(object):
    """Per channel: events not yet delivered, each retried at base * 2**n seconds (at most `longest`). Nothing
    is dropped: a round tries at most `per_round` of them and holds the rest back for the next round, saying
    so. Its courier thread delivers (`deliver`), the poll loop adds: a lock keeps them apart."""

    def __init__(self, channel: object, base: float = 5.0, longest: float = 600.0, per_round: int = 1000) -> None:
        self.channel = channel
        self.base, self.longest, self.per_round = base, longest, per_round
        self.pending: List[_Pending] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()

    @property
    def name(self) -> str:
        return str(self.channel.name)  # type: ignore[attr-defined]

    def add(self, events: List[Event], now: float) -> None:
        """A poll's notifications, all at once: the courier's next round sees them together."""
        with self.lock:
            self.pending.extend(_Pending(event, now) for event in events)
        if events:
            self.wake.set()

    def events(self) -> List[Event]:
        with self.lock:
            return [p.event for p in self.pending]

    def deliver(self, now: float, stopping: Optional[threading.Event] = None) -> bool:
        """One round: every due notification tried (at most `per_round`); whether anything changed."""
        with self.lock:
            due = [p for p in self.pending if p.due <= now]
        held = due[self.per_round :]
        if held:
            LOG.warning("%s: %d notifications held back to the next round", self.name, len(held))
        changed = False
        for item in due[: self.per_round]:
            if stopping is not None and stopping.is_set():
                break
            try:
                self.channel.send(item.event)  # type: ignore[attr-defined]
            except Exception as exc:  # any failure of a channel is retried, never fatal
                item.attempts += 1
                item.due = now + min(self.base * 2 ** (item.attempts - 1), self.longest)
                LOG.error(
                    "%s: delivery failed (attempt %d, next in %.0fs): %s", self.name, item.attempts, item.due - now, exc
                )
                continue
            with self.lock:
                self.pending.remove(item)
            changed = True
        return changed

    def next_due(self) -> Optional[float]:
        with self.lock:
            return min((p.due for p in self.pending), default=None)


class Courier(threading.Thread):
    """The thread that delivers one channel's notifications: a channel that hangs (a webhook that never
    answers) holds only its own deliveries, never the polls or another channel. `delivered` is told when a
    round delivered something (the daemon saves its state)."""

    def __init__(self, outbox: Outbox, clock: Callable[[], float], delivered: Callable[[], None]) -> None:
        super().__init__(name="courier-%s" % outbox.name, daemon=True)
        self.outbox, self.clock, self.delivered = outbox, clock, delivered
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            if self.outbox.deliver(self.clock(), self.stopping):
                self.delivered()
            due = self.outbox.next_due()
            wait = 3600.0 if due is None else max(0.05, due - self.clock())
            self.outbox.wake.wait(wait)
            self.outbox.wake.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.outbox.wake.set()
