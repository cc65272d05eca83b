"""Start-up problems an operator meets, each one `error:` line and exit 1, never a traceback: a malformed
paste file, a typo in auth_token's options, and, detached (--daemonize), a pid file it cannot write."""

from pathlib import Path

import pytest
from nova_fping_testing import one_error, run_api


@pytest.fixture
def configured(tmp_path: Path):
    inventory = tmp_path / "inventory.json"
    inventory.write_text('{"servers": []}')
    paste = tmp_path / "api-paste.ini"
    conf = tmp_path / "nova-fping.conf"
    conf.write_text("[DEFAULT]\npaste_config = %s\n[inventory]\nsource = static\nfile = %s\n" % (paste, inventory))
    return conf, paste


def test_a_malformed_paste_file_is_one_line_naming_it(configured):
    conf, paste = configured
    paste.write_text("[pipeline:main\npipeline = api\n")
    line = one_error(run_api("--config-file", str(conf), "--listen", "127.0.0.1:9"))
    assert str(paste) in line
    assert "pipeline main" in line
    assert "no section headers" in line


def test_an_auth_type_typo_is_one_line_naming_the_plugin(configured):
    conf, paste = configured
    paste.write_text(
        "[pipeline:main]\npipeline = authtoken api\n"
        "[filter:authtoken]\npaste.filter_factory = keystonemiddleware.auth_token:filter_factory\n"
        "auth_type = pasword\n"
        "[app:api]\npaste.app_factory = nova_fping.wsgi:app_factory\n"
    )
    line = one_error(run_api("--config-file", str(conf), "--listen", "127.0.0.1:9"))
    assert "The plugin pasword could not be found" in line
    assert str(paste) in line


def test_a_detached_service_that_cannot_write_its_pid_file_says_so_and_exits_1(tmp_path):
    inventory = tmp_path / "inventory.json"
    inventory.write_text('{"servers": []}')
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = run_api(
        "--inventory",
        str(inventory),
        "--noauth",
        "--listen",
        "127.0.0.1:0",
        "--daemonize",
        "--pidfile",
        str(blocker / "nova-fping-api.pid"),
    )
    assert "cannot write the pid file" in one_error(run)
