"""Fixtures of nova-fping's tests; the helpers live in nova_fping.testing (shared with instance-notifier)."""

import pytest

from nova_fping.testing import Api, Instance, next_index, unreachable_test_range


@pytest.fixture(scope="session", autouse=True)
def test_range_is_unreachable():
    yield from unreachable_test_range()


@pytest.fixture
def instances():
    made = []

    def make(ipv4: bool = True, ipv6: bool = False, extra_v4: int = 0) -> Instance:
        instance = Instance(next_index(), ipv4, ipv6, extra_v4)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.remove()


@pytest.fixture
def start_api(tmp_path):
    started = []

    def start(servers: list, **kwargs) -> Api:
        workdir = tmp_path / ("api%d" % len(started))
        workdir.mkdir()
        api = Api(workdir, servers, **kwargs)
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()
