"""The transition rules and the outbox, on their own (no network): which polls raise a notification,
and how a failing channel is retried without blocking the others."""

import json

from instance_notifier.channels import Outbox
from instance_notifier.state import Observation, StateBook

A, B = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"


def states(book, *alive_flags, server=A):
    return [
        [(e.server_id, e.state, e.previous) for e in book.update([Observation(server, "p1", flag)])]
        for flag in alive_flags
    ]


def test_dead_after_k_polls_then_one_recovery(tmp_path):
    book = StateBook(str(tmp_path / "state.json"), dead_after=2)
    assert states(book, True, False, True, False, False, False, True, True) == [
        [],
        [],
        [],  # a single lost poll is no alarm
        [],
        [(A, "dead", "alive")],
        [],  # the second dead poll in a row reports, once
        [(A, "alive", "dead")],
        [],
    ]


def test_new_server_dead_at_first_sight_and_deleted_servers(tmp_path):
    book = StateBook(str(tmp_path / "state.json"), dead_after=2)
    assert states(book, False, False, server=B) == [[], [(B, "dead", None)]]
    # deleted servers are no news, and are forgotten once missing from several lists in a row (one list
    # without them may be a hiccup of Nova's)
    assert [book.update([]) for _ in range(4)] == [[]] * 4
    assert book.servers == {}


def test_state_survives_a_restart_and_is_written_atomically(tmp_path):
    path = tmp_path / "state.json"
    book = StateBook(str(path), dead_after=1)
    book.update([Observation(A, "p1", False)])
    book.save()
    assert json.loads(path.read_text())["servers"][A]["reported"] == "dead"
    again = StateBook(str(path), dead_after=1)
    assert again.update([Observation(A, "p1", False)]) == []  # no second report after a restart
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left behind


class Flaky(object):
    name = "flaky"

    def __init__(self, failures):
        self.failures, self.sent = failures, []

    def send(self, event):
        if self.failures:
            self.failures -= 1
            raise OSError("connection refused")
        self.sent.append(event)


def test_outbox_retries_with_backoff(tmp_path):
    book = StateBook(str(tmp_path / "s"), dead_after=1)
    (event,) = book.update([Observation(A, "p1", False)])
    channel = Flaky(failures=3)
    box = Outbox(channel, base=5, longest=12)
    box.add([event], now=100.0)
    box.deliver(100.0)
    assert box.next_due() == 105.0  # 5 s after the first failure
    box.deliver(104.0)
    assert channel.failures == 2  # not due yet: not tried
    box.deliver(105.0)
    assert box.next_due() == 115.0  # 10 s
    box.deliver(115.0)
    assert box.next_due() == 127.0  # capped at 12 s
    box.deliver(127.0)
    assert channel.sent == [event]
    assert box.events() == []


def test_a_partial_list_neither_realerts_nor_loses_a_recovery(tmp_path):
    book = StateBook(str(tmp_path / "state.json"), dead_after=2)
    assert states(book, False, False) == [[], [(A, "dead", None)]]
    # Nova answers without A for two polls (a hiccup): A is not forgotten...
    assert book.update([Observation(B, "p2", True)]) == []
    assert book.update([]) == []
    # ...so a still-dead A is not reported again, and its recovery is
    assert states(book, False, True) == [[], [(A, "alive", "dead")]]
    # a server gone for good is dropped after a few polls
    for _ in range(5):
        book.update([Observation(B, "p2", True)])
    assert A not in book.servers


def test_a_state_file_of_another_shape_is_named_and_kept(tmp_path):
    import pytest

    from instance_notifier.state import StateFileError

    path = tmp_path / "state.json"
    for content in ("{not json", '{"servers": {"x": 5}}', '{"servers": [1, 2]}', '{"servers": {"x": {}}}'):
        path.write_text(content)
        with pytest.raises(StateFileError, match=str(path) + ": not"):
            StateBook(str(path))
        assert path.read_text() == content  # never overwritten
