"""The novaclient extension against the running API over HTTP on 127.0.0.1 (today's python-novaclient,
keystoneauth1's noauth plugin pointing at the API: no Keystone is needed in development mode)."""

import uuid

import pytest
from keystoneauth1 import noauth, session
from novaclient import client, exceptions, extension

import nova_fping.client

A, B, C = (str(uuid.UUID(int=i + 100)) for i in range(3))


def nova(api, project: str, roles: str):
    sess = session.Session(
        auth=noauth.NoAuth(endpoint="%s/v2/%s" % (api.url, project)),
        additional_headers={"X-Project-Id": project, "X-Roles": roles},
    )
    return client.Client("2.1", session=sess, extensions=[extension.Extension("fping", nova_fping.client)])


def test_list_and_get_through_novaclient(instances, start_api):
    up, down = instances(), instances()
    down.down()
    api = start_api(
        [
            {"id": A, "project_id": "p1", "addresses": up.addresses},
            {"id": B, "project_id": "p1", "addresses": down.addresses},
            {"id": C, "project_id": "p2", "addresses": up.addresses},
        ]
    )
    member = nova(api, "p1", "member")
    assert {(f.id, f.project_id, f.alive) for f in member.fping.list()} == {(A, "p1", True), (B, "p1", False)}
    got = member.fping.get(A)
    assert (got.id, got.project_id, got.alive) == (A, "p1", True)
    assert member.fping.get(B).alive is False
    with pytest.raises(exceptions.NotFound):
        member.fping.get(C)
    with pytest.raises(exceptions.Forbidden):
        member.fping.list(all_tenants=True)
    admin = nova(api, "p1", "admin")
    assert {f.id for f in admin.fping.list(all_tenants=True)} == {A, B, C}
    assert {f.id for f in admin.fping.list(all_tenants=True, include=[C, B])} == {B, C}
    assert {f.id for f in admin.fping.list(all_tenants=True, exclude=[A])} == {B, C}
    assert {f.id for f in admin.fping.list(all_tenants=True, include=[A], exclude=[A])} == {A}
    assert api.fping_runs() == 7  # one fping per answered call; the 404 and the 403 pinged nothing


def test_rate_limit_reaches_the_client_as_overlimit(start_api):
    api = start_api([{"id": A, "project_id": "p1", "addresses": []}], conf_text="[rate_limit]\ncalls = 1\n")
    member = nova(api, "p1", "member")
    member.fping.list()
    with pytest.raises(exceptions.OverLimit) as raised:
        member.fping.list()
    assert int(raised.value.retry_after) > 0
