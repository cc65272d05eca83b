"""instance-notifier as users run it: the daemon process against the real nova-fping API with namespace
instances, a real SMTP server and a real webhook receiver. Kill an instance (interface down): exactly
one notification per channel; bring it back: exactly one recovery notice."""

import json
import signal
import subprocess
import sys
import time
import uuid

import pytest

A, B = (str(uuid.UUID(int=0xA0 + i)) for i in range(2))


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def config(tmp_path, api, smtp_port, hook_url, interval=0.5, recipients="p1 = ops-p1@example.com"):
    path = tmp_path / "instance-notifier.conf"
    path.write_text(
        """[DEFAULT]
interval = %s
dead_after = 2
state_file = %s
retry_base = 0.2
retry_max = 1

[api]
url = %s/v2/admin
auth = noauth
project_id = admin
roles = admin

[email]
enabled = true
smtp_host = 127.0.0.1
smtp_port = %d
from = notifier@example.com

[email_recipients]
%s

[webhook]
url = %s
"""
        % (interval, tmp_path / "state.json", api.url, smtp_port, recipients, hook_url)
    )
    return path


class Notifier(object):
    def __init__(self, conf, tmp_path):
        self.log_path = tmp_path / "notifier.log"
        self.log = open(self.log_path, "a")  # noqa: SIM115 (the daemon's stderr while it runs)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "instance_notifier.cli", "--config", str(conf)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def text(self):
        return self.log_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=15)
        self.log.close()
        return code


@pytest.fixture
def world(tmp_path, instances, api, smtp, webhook):
    first, second = instances(), instances()
    server = api(
        [
            {"id": A, "project_id": "p1", "addresses": first.addresses},
            {"id": B, "project_id": "p2", "addresses": second.addresses},
        ]
    )
    port, mails = smtp
    hook_url, receiver = webhook
    conf = config(tmp_path, server, port, hook_url)
    return {
        "instance": first,
        "second": second,
        "api": server,
        "start_api": api,
        "mails": mails,
        "hooks": receiver,
        "conf": conf,
    }


def test_one_notification_per_channel_and_one_recovery(world, tmp_path):
    notifier = Notifier(world["conf"], tmp_path)
    try:
        wait_for(lambda: world["api"].fping_runs() >= 3, what="three polls")
        assert world["mails"] == []
        assert world["hooks"].received == []
        world["instance"].down()
        wait_for(lambda: len(world["hooks"].received) >= 1, what="the dead notice")
        polls = world["api"].fping_runs()
        wait_for(lambda: world["api"].fping_runs() >= polls + 4, what="four more polls")
        (hook,) = world["hooks"].received
        assert {k: hook[k] for k in ("event", "server_id", "project_id", "state", "previous")} == {
            "event": "instance.dead",
            "server_id": A,
            "project_id": "p1",
            "state": "dead",
            "previous": "alive",
        }
        (mail,) = world["mails"]
        assert mail["to"] == ["ops-p1@example.com"]
        assert "instance %s is DOWN" % A in mail["data"]
        assert notifier.text().count("stopped answering ping") == 1
        world["instance"].up()
        wait_for(lambda: len(world["hooks"].received) >= 2, what="the recovery notice")
        polls = world["api"].fping_runs()
        wait_for(lambda: world["api"].fping_runs() >= polls + 3, what="three more polls")
        assert [h["state"] for h in world["hooks"].received] == ["dead", "alive"]
        assert len(world["mails"]) == 2
        assert "UP again" in world["mails"][1]["data"]
        assert notifier.text().count("answers ping again") == 1
    finally:
        assert notifier.stop() == 0
    assert "stopped" in notifier.text().splitlines()[-1]
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["servers"][A]["reported"] == "alive"


def test_failing_channel_is_retried_and_does_not_block_the_others(world, tmp_path):
    world["hooks"].status = 500
    notifier = Notifier(world["conf"], tmp_path)
    try:
        world["instance"].down()
        wait_for(lambda: len(world["mails"]) == 1, what="the mail")
        wait_for(lambda: len(world["hooks"].received) >= 3, what="webhook retries")
        world["hooks"].status = 200
        count = len(world["hooks"].received)
        time.sleep(3)
        assert len(world["hooks"].received) == count + 1  # delivered once it worked, then no more
        assert len(world["mails"]) == 1
        assert "webhook: delivery failed" in notifier.text()
    finally:
        assert notifier.stop() == 0


def test_api_down_raises_no_false_alarm_and_sighup_reloads(world, tmp_path):
    notifier = Notifier(world["conf"], tmp_path)
    try:
        wait_for(lambda: world["api"].fping_runs() >= 2, what="two polls")
        world["api"].stop()  # unreachable API: logged, never "dead"
        wait_for(lambda: notifier.text().count("os-fping unavailable") >= 3, what="three failed polls")
        assert world["hooks"].received == []
        assert world["mails"] == []
        # the API comes back elsewhere; SIGHUP makes the daemon read its new address and a new recipient
        moved = world["start_api"]([{"id": A, "project_id": "p1", "addresses": world["instance"].addresses}])
        world["conf"].write_text(
            world["conf"]
            .read_text()
            .replace(world["api"].url, moved.url)
            .replace("ops-p1@example.com", "oncall@example.com")
        )
        notifier.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in notifier.text(), what="the reload")
        wait_for(lambda: moved.fping_runs() >= 2, what="polls of the moved API")
        world["instance"].down()
        wait_for(lambda: len(world["mails"]) == 1, what="the mail after the reload")
        assert world["mails"][0]["to"] == ["oncall@example.com"]
    finally:
        assert notifier.stop() == 0


def test_an_undelivered_alert_survives_a_restart(world, tmp_path):
    world["hooks"].status = 500
    notifier = Notifier(world["conf"], tmp_path)
    try:
        world["instance"].down()
        wait_for(lambda: len(world["hooks"].received) >= 1, what="a failed webhook delivery")
    finally:
        assert notifier.stop() == 0
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["servers"][A]["reported"] == "dead"
    assert [e["server_id"] for e in state["undelivered"]["webhook"]] == [A]
    world["hooks"].status = 200
    count = len(world["hooks"].received)
    restarted = Notifier(world["conf"], tmp_path)
    try:
        wait_for(lambda: len(world["hooks"].received) > count, what="the owed webhook after the restart")
    finally:
        assert restarted.stop() == 0
    assert world["hooks"].received[count]["event"] == "instance.dead"
    assert world["hooks"].received[count]["server_id"] == A
    assert (
        "undelivered" not in json.loads((tmp_path / "state.json").read_text())
        or not json.loads((tmp_path / "state.json").read_text())["undelivered"]
    )


def test_the_shipped_configurations_poll_within_the_apis_rate_limit():
    """The two packages as shipped work together: the notifier's polls fit the API's limit per project."""
    import configparser
    from pathlib import Path

    src = Path(__file__).resolve().parents[2]
    api = configparser.ConfigParser(interpolation=None)
    api.read(src / "nova-fping" / "etc" / "nova-fping.conf")
    notifier = configparser.ConfigParser(interpolation=None)
    notifier.read(src / "instance-notifier" / "etc" / "instance-notifier.conf")
    polls_per_period = api.getfloat("rate_limit", "period") / notifier.getfloat("DEFAULT", "interval")
    assert polls_per_period <= api.getint("rate_limit", "calls") - 1  # a call left: a restart, an operator
    from instance_notifier.config import DEFAULTS

    assert float(DEFAULTS["DEFAULT"]["interval"]) == notifier.getfloat("DEFAULT", "interval")
