"""Fixtures of nova-fping's tests; the helpers live in nova_fping_testing beside this file (shared with
instance-notifier's tests, and kept out of the package that the RPM ships)."""

import pytest
from nova_fping_testing import Api, instance_factory, unreachable_test_range


@pytest.fixture(scope="session", autouse=True)
def test_range_is_unreachable():
    yield from unreachable_test_range()


@pytest.fixture
def instances():
    yield from instance_factory()


@pytest.fixture
def start_api(tmp_path):
    started: list = []

    def start(servers: list, **kwargs) -> Api:
        workdir = tmp_path / ("api%d" % len(started))
        workdir.mkdir()
        api = Api(workdir, servers, **kwargs)
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()
