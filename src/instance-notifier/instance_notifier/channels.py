"""Notification channels (log, e-mail, webhook) and the outbox that retries a failing channel with
exponential back-off without holding up the poll loop or the other channels.

A delivery has a deadline on the whole exchange (connect, send, the answer's headers and body), not on each
read: a server that answers byte by byte is cut off at the deadline, and the delivery is retried as any
failed one. A webhook's POST is never re-sent as something else: a redirect is a failure naming where it
pointed (urllib would follow a 301/302/303 as a GET without the notification)."""

import contextlib
import http.client
import json
import logging
import smtplib
import socket
import ssl
import threading
import urllib.parse
from collections import OrderedDict
from email.message import EmailMessage
from typing import Any, Callable, Dict, List, Optional, Set

from instance_notifier.state import Event

LOG = logging.getLogger("instance-notifier")
MAX_ANSWER_BYTES = 64 * 1024  # of a webhook's answer body: read (a keep-alive peer expects it), then dropped


def describe(event: Event) -> str:
    if event.state == "dead":
        return "instance %s of project %s stopped answering ping" % (event.server_id, event.project_id)
    return "instance %s of project %s answers ping again" % (event.server_id, event.project_id)


class Deadline(object):
    """The whole exchange of one delivery within `seconds`: past it, the connection's socket is shut down,
    which ends the read or write in progress; the delivery then fails with TimeoutError."""

    def __init__(self, seconds: float, what: str, sock: Callable[[], Optional[socket.socket]]) -> None:
        self.seconds, self.what, self.sock = seconds, what, sock
        self.expired = False
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        sock = self.sock()
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: the exchange ended anyway
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> "Deadline":
        self.timer.start()
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self.timer.cancel()
        if self.expired:
            raise TimeoutError("%s: no complete exchange within %gs" % (self.what, self.seconds)) from exc


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
        self.unaddressed: Set[str] = set()  # projects said to have no recipient

    def send(self, event: Event) -> None:
        to = self.recipients.get(event.project_id) or self.recipients.get("*") or []
        if not to:
            if event.project_id not in self.unaddressed:
                self.unaddressed.add(event.project_id)
                LOG.warning(
                    "email: no recipient for project %s (nor '*') in [email_recipients]: its notifications are "
                    "not e-mailed",
                    event.project_id,
                )
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
        smtp = smtplib.SMTP(timeout=self.timeout)
        where = "e-mail server %s:%d" % (self.host, self.port)
        try:
            with Deadline(self.timeout, where, lambda: getattr(smtp, "sock", None)):
                smtp.connect(self.host, self.port)
                smtp.send_message(message)
                smtp.quit()
        finally:
            smtp.close()


class WebhookChannel(object):
    name = "webhook"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("[webhook] url must be http:// or https://, not %r" % url)
        self.url, self.timeout = url, timeout
        self.parts = parts

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self.parts.hostname or "", self.parts.port
        if self.parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def send(self, event: Event) -> None:
        body = json.dumps({"event": "instance." + event.state, **event.as_dict()}).encode()
        target = (self.parts.path or "/") + ("?" + self.parts.query if self.parts.query else "")
        connection = self._connection()
        try:
            with Deadline(self.timeout, "webhook %s" % self.url, lambda: connection.sock):
                connection.request("POST", target, body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read(MAX_ANSWER_BYTES)
        finally:
            connection.close()
        if 300 <= response.status < 400:
            raise OSError(
                "webhook answered %d, redirecting to %s: a notification is POSTed to the configured url only"
                % (response.status, response.getheader("Location") or "(no Location)")
            )
        if not 200 <= response.status < 300:
            raise OSError("webhook answered %d" % response.status)


class _Pending(object):
    def __init__(self, event: Event, due: float) -> None:
        self.event, self.due, self.attempts = event, due, 0


class Outbox(object):
    """Per channel: events not yet delivered, each retried at base * 2**n seconds (at most `longest`). A
    round tries at most `per_round` of them and holds the rest back for the next round, saying so. At most
    `bound` are owed: beyond it the oldest are dropped, said in one line with the count. Its courier thread
    delivers (`deliver`), the poll loop adds: a lock keeps them apart."""

    def __init__(
        self, channel: object, base: float = 5.0, longest: float = 600.0, per_round: int = 1000, bound: int = 10000
    ) -> None:
        self.channel = channel
        self.base, self.longest, self.per_round, self.bound = base, longest, per_round, bound
        self.pending: "OrderedDict[int, _Pending]" = OrderedDict()  # by arrival: the oldest first
        self.counter = 0
        self.dropped = 0
        self.lock = threading.Lock()
        self.wake = threading.Event()

    @property
    def name(self) -> str:
        return str(self.channel.name)  # type: ignore[attr-defined]

    def add(self, events: List[Event], now: float) -> None:
        """A poll's notifications, all at once: the courier's next round sees them together."""
        with self.lock:
            for event in events:
                self.counter += 1
                self.pending[self.counter] = _Pending(event, now)
            over = len(self.pending) - self.bound
            for _ in range(max(0, over)):
                self.pending.popitem(last=False)
            self.dropped += max(0, over)
        if over > 0:
            LOG.error(
                "%s: more than %d notifications owed: the %d oldest dropped (%d since the start)",
                self.name,
                self.bound,
                over,
                self.dropped,
            )
        if events:
            self.wake.set()

    def events(self) -> List[Event]:
        with self.lock:
            return [p.event for p in self.pending.values()]

    def deliver(self, now: float, stopping: Optional[threading.Event] = None) -> bool:
        """One round: every due notification tried (at most `per_round`); whether anything changed."""
        with self.lock:
            due = [(key, p) for key, p in self.pending.items() if p.due <= now]
        held = due[self.per_round :]
        if held:
            LOG.warning("%s: %d notifications held back to the next round", self.name, len(held))
        changed = False
        for key, item in due[: self.per_round]:
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
                self.pending.pop(key, None)
            changed = True
        return changed

    def next_due(self) -> Optional[float]:
        with self.lock:
            return min((p.due for p in self.pending.values()), default=None)


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
