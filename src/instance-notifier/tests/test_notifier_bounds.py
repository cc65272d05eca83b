"""The third probe of the notifier (issue 39): a webhook that never answers, a state file that cannot be
written or is not a file, and an outage of more than a thousand servers. The daemon's own loop, with a
test fetcher in place of os-fping (the fetcher is the daemon's seam to the API; test_daemon drives the real
one) and real sockets for the channels."""

import logging
import os
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from instance_notifier.daemon import Daemon
from instance_notifier.state import Observation, StateBook, StateFileError


def _conf(tmp: Path, state_file: Path, webhook: str = "") -> Path:
    conf = tmp / "instance-notifier.conf"
    conf.write_text(
        "[DEFAULT]\ninterval = 0.1\ndead_after = 1\nstate_file = %s\nretry_base = 0.2\nretry_max = 1\n"
        "[api]\nurl = http://127.0.0.1:9/v2/admin\nauth = noauth\nproject_id = admin\n"
        "[webhook]\nurl = %s\ntimeout = 30\n" % (state_file, webhook)
    )
    return conf


class _Polls:
    def __init__(self, servers: int, alive: bool = True) -> None:
        self.count = 0
        self.alive = alive
        self.ids = [str(uuid.UUID(int=i + 1)) for i in range(servers)]

    def __call__(self):
        self.count += 1
        return [Observation(i, "p1", self.alive) for i in self.ids]


def _run(daemon: Daemon, seconds: float) -> float:
    """Run the daemon for `seconds`, then stop it; how long the stop took."""
    thread = threading.Thread(target=daemon.run)
    thread.start()
    time.sleep(seconds)
    began = time.monotonic()
    daemon.stop()
    thread.join(30)
    assert not thread.is_alive()
    return time.monotonic() - began


def test_a_webhook_that_never_answers_does_not_stop_the_polls(tmp_path):
    """2 polls in 30 s instead of 30, and SIGTERM took 33 s: the deliveries blocked the poll loop."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts (the kernel does) and never answers
    try:
        conf = _conf(tmp_path, tmp_path / "state.json", "http://127.0.0.1:%d/hook" % silent.getsockname()[1])
        daemon = Daemon(str(conf))
        polls = _Polls(3)
        daemon.fetch = polls
        polls.alive = False  # every server dies at the first poll: a notification each, the webhook hangs
        took_to_stop = _run(daemon, 3.0)
        assert polls.count >= 15, polls.count  # a poll every 0.1 s, whatever the webhook does
        assert took_to_stop < 5.0
        assert daemon.pending()["webhook"] == 3  # owed, and saved for the next start
        assert len(StateBook(str(tmp_path / "state.json")).undelivered["webhook"]) == 3
    finally:
        silent.close()


def test_a_state_file_that_cannot_be_written_is_said_once_and_the_daemon_goes_on(tmp_path, caplog):
    """A read-only directory or a full disk ended the daemon, and the poll's notifications were lost."""
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(full)], check=True)
    try:
        with open(full / "filler", "wb", buffering=0) as filler:  # a full disk (root writes a read-only one)
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass
        daemon = Daemon(str(_conf(tmp_path, full / "state.json")))
        polls = _Polls(2, alive=False)
        daemon.fetch = polls
        with caplog.at_level(logging.INFO, logger="instance-notifier"):
            _run(daemon, 1.0)
    finally:
        subprocess.run(["umount", "-l", str(full)], check=False)
    assert polls.count >= 5
    assert caplog.text.count("cannot save the state") == 1
    assert caplog.text.count("stopped answering ping") == 2  # delivered all the same (the log channel)


def test_an_outage_of_more_than_a_thousand_servers_drops_nothing(tmp_path, caplog):
    """The per-channel cap applied before delivery: beyond 1,000 servers the log channel dropped alerts."""
    daemon = Daemon(str(_conf(tmp_path, tmp_path / "state.json")))
    polls = _Polls(1500, alive=False)
    daemon.fetch = polls
    with caplog.at_level(logging.INFO, logger="instance-notifier"):
        _run(daemon, 2.0)
    assert caplog.text.count("stopped answering ping") == 1500
    assert "dropped" not in caplog.text
    assert "held back to the next round" in caplog.text  # a round tries 1,000, the rest follow


def test_a_state_file_that_is_a_fifo_is_refused_and_a_link_is_written_through(tmp_path):
    """A FIFO as the state file hung the start; a link was replaced by a regular file."""
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    began = time.monotonic()
    with pytest.raises(StateFileError, match="not a regular file"):
        StateBook(str(fifo))
    assert time.monotonic() - began < 2.0
    elsewhere = tmp_path / "kept" / "state.json"
    elsewhere.parent.mkdir()
    link = tmp_path / "state-link.json"
    link.symlink_to(elsewhere)
    book = StateBook(str(link))
    book.update([Observation(str(uuid.UUID(int=1)), "p1", True)])
    book.save()
    assert link.is_symlink()
    assert elsewhere.is_file()
    assert str(uuid.UUID(int=1)) in elsewhere.read_text()
