"""The Koji tests' fixtures: certificates made once per module, a FakeKojiHub per test, and the test layout
pointed at it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from fakekoji import FakeKojiHub, make_certificates

TARGET = "altai-9.9-el6"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certificates(tmp_path_factory.mktemp("koji-certs"))


@pytest.fixture
def hub(tmp_path, certs, release):
    hub = FakeKojiHub(tmp_path / "hub", certs, target=TARGET, macro_files=[release["layout"].parent / "el6.macros"])
    yield hub
    if not hub.stopped.is_set():
        hub.stop()


def koji_table(layout: Path, target: str, scratch: bool, config: str, poll_interval: float) -> None:
    """A [koji] table at the end of `layout`: the profile `altai` of the koji config file `config`."""
    with open(layout, "a") as text:
        text.write(
            textwrap.dedent(f"""
            [koji]
            profile = "altai"
            target = "{target}"
            scratch = {"true" if scratch else "false"}
            config = "{config}"
            poll_interval = {poll_interval}
            """)
        )


def use_koji(release, hub: FakeKojiHub, scratch: bool, target: str = TARGET, cert: Path | None = None) -> None:
    """The test layout with a [koji] table for `hub`, its profile in a koji config file beside it."""
    hub.profile(release["layout"].parent / "koji.conf", cert=cert)
    koji_table(release["layout"], target, scratch, "koji.conf", 0.1)
