"""nova-fping as OpenStack's own tools see it: its options through oslo-config-generator, its policy
through oslopolicy-sample-generator and oslopolicy-policy-generator (the enforcer entry point), and its
configuration read as oslo.config reads a service's: --config-file, --config-dir, typed and bounded values,
unknown keys said."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nova_fping import conf as fping_conf

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tool(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    # stevedore caches entry points under XDG_CACHE_HOME: a fresh cache sees this checkout's entry points
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True)


def test_the_checked_in_sample_is_what_oslo_config_generator_writes(tmp_path):
    out = tmp_path / "sample.conf"
    run = tool(
        tmp_path,
        "oslo-config-generator",
        "--config-file",
        "etc/oslo-config-generator/nova-fping.conf",
        "--output-file",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    assert "Could not load" not in run.stderr
    assert out.read_text() == (ROOT / "etc" / "nova-fping.conf.sample").read_text(), (
        "etc/nova-fping.conf.sample is stale: oslo-config-generator --config-file "
        "etc/oslo-config-generator/nova-fping.conf"
    )
    assert "#max_concurrent = 4" in out.read_text()
    assert "[nova]" in out.read_text()


def test_policy_generators_see_the_rules_and_the_enforcer(tmp_path):
    sample = tool(tmp_path, "oslopolicy-sample-generator", "--namespace", "nova_fping")
    assert sample.returncode == 0, sample.stderr
    assert '#"os_compute_api:os-fping:all_tenants": "rule:context_is_admin"' in sample.stdout
    effective = tool(tmp_path, "oslopolicy-policy-generator", "--namespace", "nova_fping")
    assert effective.returncode == 0, effective.stderr
    assert '"context_is_admin": "role:admin"' in effective.stdout


def test_the_shipped_configuration_has_no_unknown_option():
    assert fping_conf.unknown_options([str(ROOT / "etc" / "nova-fping.conf")]) == []
    conf = fping_conf.load([str(ROOT / "etc" / "nova-fping.conf")])
    assert (conf.threads, conf.fping.max_concurrent, conf.rate_limit.calls, conf.nova.timeout) == (96, 4, 12, 10.0)


def test_config_dir_overrides_config_file_and_unknown_keys_are_said(tmp_path, caplog):
    main = tmp_path / "nova-fping.conf"
    main.write_text("[fping]\nmax_concurrent = 3\nmax_concurent = 9\n")
    confd = tmp_path / "nova-fping.conf.d"
    confd.mkdir()
    (confd / "10-local.conf").write_text("[fping]\nmax_concurrent = 5\n[rate-limit]\ncalls = 1\n")
    conf = fping_conf.load([str(main)], [str(confd)])
    assert conf.fping.max_concurrent == 5
    said = caplog.text
    assert "%s: [fping] max_concurent is not an option nova-fping knows" % main in said
    assert "[rate-limit] is not a section nova-fping reads" in said


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[fping]\nmax_concurrent = 0\n", "error: [fping] max_concurrent: Should be greater than or equal to 1"),
        ("[DEFAULT]\nthreads = many\n", "error: [DEFAULT] threads: invalid literal for int()"),
        ("[inventory]\nsource = ldap\n", "error: [inventory] source: "),
    ],
)
def test_a_bad_value_is_one_line_naming_it(tmp_path, text, line):
    conf = tmp_path / "nova-fping.conf"
    conf.write_text(text)
    run = subprocess.run(
        [sys.executable, "-m", "nova_fping.cli", "--config-file", str(conf), "--noauth"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    errors = [x for x in run.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, run.stderr
    assert errors[0].startswith(line), run.stderr
    assert "Traceback" not in run.stderr


def test_every_request_has_an_id_and_a_log_line_in_the_log_file(start_api, tmp_path):
    log_file = tmp_path / "nova-fping-api.log"
    api = start_api([], conf_text="[DEFAULT]\nlog_file = %s\n" % log_file)
    status, _, headers = api.get("/v2/p1/os-fping")
    anonymous = api.get("/v2/p1/os-fping", project="")
    assert status == 200
    assert anonymous[0] == 401
    first, second = headers["X-Openstack-Request-Id"], anonymous[2]["X-Openstack-Request-Id"]
    assert first.startswith("req-")
    assert first != second
    lines = log_file.read_text().splitlines()
    (served,) = [line for line in lines if first in line]
    assert '"GET /v2/p1/os-fping" status: 200 len: 15 time: ' in served
    assert " p1 " in served
    (refused,) = [line for line in lines if second in line]  # its own id: not the thread's last request's
    assert '"GET /v2/p1/os-fping" status: 401' in refused
    assert " p1 " not in refused
