"""How nova-fping-api stops (SIGTERM): no new connection, the requests in flight get `shutdown_timeout`,
those still probing or reading from Nova then answer 503 (their fping and their Nova read stopped), and the
event loop ends from inside itself, not by a simulated Ctrl-C that a service started with SIGINT ignored
would never see."""

import time
from typing import Any

from waitress import wasyncore


def stop_listening(server: Any) -> None:
    """No new connection, and a kept-alive one closes instead of taking another request; the trigger stays,
    so that the requests in flight still wake the loop to send their answers. The listening socket is closed
    by the loop itself when it next asks whether to poll it: closed here, in the signal handler, it would
    still be in the poll() the signal interrupted."""
    server.channel_class.stopping = True

    def closing() -> bool:
        wasyncore.dispatcher.close(server)
        return False

    server.readable = closing


def _busy(server: Any) -> bool:
    return any(channel.requests for channel in list(server.active_channels.values()))


def _close_idle(server: Any) -> None:
    for channel in list(server.active_channels.values()):
        if not channel.requests:
            channel.will_close = True  # the loop closes it at its next turn
    server.pull_trigger()


def drain(server: Any, grace: float, stop_fping: Any) -> None:
    """SIGTERM: the requests in flight get `shutdown_timeout` to finish; those still probing then end with a
    503 (their fping stopped); then the loop ends, closing what is left from inside itself."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _busy(server):
        _close_idle(server)
        time.sleep(0.1)
    if _busy(server):
        stop_fping()
        last = time.monotonic() + 5.0
        while time.monotonic() < last and _busy(server):
            _close_idle(server)
            time.sleep(0.1)
    _close_idle(server)
    time.sleep(0.2)  # the loop's turn to send what the last answers wrote

    def end_loop() -> None:  # in the loop: an empty map ends waitress's run()
        for dispatcher in list(server._map.values()):
            dispatcher.close()
        apart = getattr(server, "tokenless_dispatcher", None)
        if apart is not None:
            apart.shutdown(cancel_pending=True, timeout=1)

    server.trigger.pull_trigger(end_loop)
