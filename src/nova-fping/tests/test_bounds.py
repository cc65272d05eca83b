"""The third probe of the API (issue 39): what a configuration, a policy file, a stuck rate-limit holder or a
clock may do, each a test that failed on the code before it: the real nova-fping-api process where a server
is needed, its modules where the logic is enough."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nova_fping_testing import one_error, run_api

from nova_fping.conf import ConfigError, load
from nova_fping.ratelimit import RateLimiter


@pytest.mark.parametrize(
    ("section", "line", "said"),
    [
        ("fping", "request_timeout = nan", "[fping] request_timeout: expected a finite number"),
        ("fping", "request_timeout = inf", "request_timeout"),
        ("rate_limit", "period = inf", "period"),
        ("DEFAULT", "listen = 127.0.0.1:99999", "[DEFAULT] listen: expected HOST:PORT with a port from 1 to 65535"),
        ("DEFAULT", "listen = localhost", "[DEFAULT] listen: expected HOST:PORT"),
        ("DEFAULT", "backlog = 99999999999", "backlog"),
        ("DEFAULT", "threads = 2147483647", "threads"),
        ("nova", "timeout = -5", "[nova] timeout: expected seconds from 1 to 3600"),
    ],
)
def test_config_values_out_of_bounds_are_one_error_naming_the_option(tmp_path, section, line, said):
    """NaN, infinity and negative values passed the bounded options, port 99999 listened on 34463, and
    `listen = localhost`, a huge backlog or thread count gave tracebacks or named the wrong option."""
    conf = tmp_path / "nova-fping.conf"
    conf.write_text("[%s]\n%s\n" % (section, line))
    with pytest.raises(ConfigError) as caught:
        load([str(conf)])
    assert said in str(caught.value)
    line_said = one_error(run_api("--config-file", str(conf), "--noauth", "--inventory", str(tmp_path / "none")))
    assert said in line_said


POLICY_LOOP = '"rule_a": "rule:rule_b"\n"rule_b": "rule:rule_a"\n"os_compute_api:os-fping": "rule:rule_a"\n'


def test_a_policy_file_whose_rules_loop_is_refused_at_start_and_on_reload(tmp_path, caplog):
    """A looping rule started with a warning, then every request was a 500 and a RecursionError."""
    from nova_fping.policy import Policy, RequestContext

    looping = tmp_path / "loop.yaml"
    looping.write_text(POLICY_LOOP)
    with pytest.raises(ConfigError, match="its rules loop or name a rule that does not exist"):
        Policy(str(looping))
    broken = tmp_path / "broken.yaml"
    broken.write_text('"a": [\n')
    with pytest.raises(ConfigError, match="%s: not a policy file" % broken):
        Policy(str(broken))
    # a running service whose file is edited into a loop keeps the rules in force
    edited = tmp_path / "policy.yaml"
    edited.write_text('"os_compute_api:os-fping": "rule:admin_or_owner"\n')
    rules = Policy(str(edited))
    caller = RequestContext(project_id="p1", roles=["member"])
    assert rules.allowed("os_compute_api:os-fping", caller, "p1")
    time.sleep(0.05)
    edited.write_text(POLICY_LOOP)
    import os

    os.utime(edited, (time.time() + 5, time.time() + 5))
    assert rules.allowed("os_compute_api:os-fping", caller, "p1")  # no RecursionError, the old rules hold
    assert "its new rules loop" in caplog.text


def test_a_yaml_error_in_the_policy_file_names_the_policy_file(tmp_path):
    inventory = tmp_path / "inventory.json"
    inventory.write_text('{"servers": []}')
    policy = tmp_path / "policy.yaml"
    policy.write_text('"a": [\n')
    conf = tmp_path / "nova-fping.conf"
    conf.write_text("[policy]\nfile = %s\n[inventory]\nsource = static\nfile = %s\n" % (policy, inventory))
    line = one_error(run_api("--config-file", str(conf), "--noauth", "--listen", "127.0.0.1:9"))
    assert str(policy) in line
    assert "not a policy file" in line


def test_a_stuck_holder_of_the_shared_count_is_a_quick_503(tmp_path):
    """Every call waited sqlite's hard-coded 30 s for the lock; now a short, bounded wait, then the 503."""
    from nova_fping.ratelimit import RateLimitUnavailable

    state = tmp_path / "ratelimit.sqlite"
    limiter = RateLimiter(12, 3600, state_file=str(state), lock_timeout=0.5)
    holder = sqlite3.connect(str(state), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process, stuck inside its transaction
    try:
        began = time.monotonic()
        with pytest.raises(RateLimitUnavailable):
            limiter.reserve("p1")
        assert time.monotonic() - began < 3
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert limiter.reserve("p1")[0] == 0  # the holder gone, the count works again


@pytest.mark.parametrize("shared", [False, True])
def test_a_call_counted_in_the_future_holds_a_project_off_one_period_at_most(tmp_path, shared):
    """The rate limit trusted wall-clock rows: a row a day ahead locked a project out for 25 h."""
    now = [1_000_000.0]
    limiter = RateLimiter(1, 3600, clock=lambda: now[0], state_file=str(tmp_path / "s.sqlite") if shared else None)
    now[0] += 86400  # a clock a day ahead counted one call
    assert limiter.reserve("p1")[0] == 0
    now[0] -= 86400  # and went back
    assert 0 < limiter.reserve("p1")[0] <= 3600  # refused, but for one period at most
    now[0] += 3601
    assert limiter.reserve("p1")[0] == 0


def test_the_overridden_waitress_methods_exist():
    """server.py overrides waitress internals; pyproject pins the releases they were checked with."""
    from nova_fping.server import OVERRIDDEN

    for cls, names in OVERRIDDEN.items():
        for name in names:
            assert callable(getattr(cls, name, None)), "%s.%s" % (cls.__name__, name)
    requirement = [r for r in _pyproject()["project"]["dependencies"] if r.startswith("waitress")]
    assert requirement == ["waitress>=1.4,<4"]


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def test_started_with_sigint_ignored_sigterm_still_ends_it(tmp_path):
    """Started from a script with `cmd &` (SIGINT ignored), SIGTERM stopped the listening but the process
    never exited, and the next start said "already running"."""
    import signal

    from nova_fping_testing import free_port

    inventory = tmp_path / "inventory.json"
    inventory.write_text('{"servers": []}')
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "nova_fping.cli",
        "--noauth",
        "--inventory",
        str(inventory),
        "--listen",
        "127.0.0.1:%d" % port,
    ]
    proc = subprocess.Popen(
        argv, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "listening on" in line:
            break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def test_one_project_cannot_hold_every_fping_place(tmp_path):
    """One admin project's 12 all_tenants calls held the fping gate for 58 s against another project's one
    address: a project holds at most half the places and half the queue."""
    from nova_fping.fping import FpingGate, FpingUnavailable

    gate = FpingGate(max_concurrent=4, max_waiting=8)
    gate.acquire(1, "admin")
    gate.acquire(1, "admin")
    began = time.monotonic()
    with pytest.raises(FpingUnavailable):
        gate.acquire(0.2, "admin")  # its third waits (its half is full) and times out
    assert time.monotonic() - began < 1.0
    gate.acquire(0.01, "p2")  # another project gets a place at once
    for _ in range(4):
        try:
            gate.acquire(0.01, "admin")
        except FpingUnavailable as exc:
            last = exc
    assert last.busy is False  # waited, timed out: the deadline, not the queue
    gate.release("p2")
    gate.release("admin")
    gate.acquire(0.01, "admin")  # its half has room again


def test_a_call_refused_because_the_gate_is_full_counts_only_when_its_own_share_is(tmp_path):
    """Calls refused by the gate were given back to the rate limit: a project could repeat them at will. But
    a gate full of other projects' calls is not the caller's doing: it ended in a one-hour 413 without one
    answer (issue 54)."""
    import webob

    from nova_fping.api import FpingApi, RateLimit
    from nova_fping.fping import FpingGate, FpingProber
    from nova_fping.inventory import StaticInventory
    from nova_fping.policy import Policy

    inventory = tmp_path / "inventory.json"
    server = {"id": "00000000-0000-0000-0000-000000000001", "project_id": "p1", "addresses": ["127.0.0.1"]}
    inventory.write_text('{"servers": [%s]}' % __import__("json").dumps(server))
    headers = {"X-Project-Id": "p1", "X-Identity-Status": "Confirmed"}
    for holder, counted in (("someone", False), ("p1", True)):
        gate = FpingGate(max_concurrent=1, max_waiting=0)
        gate.acquire(1, holder)  # the only place, taken
        app = RateLimit(
            FpingApi(StaticInventory(str(inventory)), FpingProber("/bin/true", gate=gate), Policy()),
            RateLimiter(2, 3600),
        )
        for _ in range(2):
            response = webob.Request.blank("/v2/p1/os-fping", headers=headers).get_response(app)
            assert response.status_int == 503
            assert "too many" in response.json["serviceUnavailable"]["message"]
        third = webob.Request.blank("/v2/p1/os-fping", headers=headers).get_response(app).status_int
        assert third == (413 if counted else 503), holder
