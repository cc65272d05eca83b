"""The os-fping API against real fping and namespace instances, over HTTP on 127.0.0.1."""

import uuid

import pytest

A, B, C, D, E, F = (str(uuid.UUID(int=i + 1)) for i in range(6))


def by_id(body):
    return {s["id"]: (s["project_id"], s["alive"]) for s in body["servers"]}


def test_alive_dead_several_addresses_none_and_ipv6(instances, start_api):
    up, down, multi, v6 = instances(), instances(), instances(extra_v4=1), instances(ipv4=False, ipv6=True)
    down.down()
    multi_half = instances()
    multi_half.down()
    api = start_api(
        [
            {"id": A, "project_id": "p1", "addresses": up.addresses},
            {"id": B, "project_id": "p1", "addresses": down.addresses},
            {"id": C, "project_id": "p1", "addresses": multi.addresses},
            {"id": D, "project_id": "p1", "addresses": multi_half.addresses + up.addresses},  # one answers: alive
            {"id": E, "project_id": "p1", "addresses": v6.addresses},
            {"id": F, "project_id": "p1", "addresses": []},
        ]
    )
    status, body, _ = api.get("/v2/p1/os-fping")
    assert status == 200
    assert by_id(body) == {
        A: ("p1", True),
        B: ("p1", False),
        C: ("p1", True),
        D: ("p1", True),
        E: ("p1", True),
        F: ("p1", False),
    }
    assert api.fping_runs() == 1  # every address of the request in one fping process
    v6.down()
    status, body, _ = api.get("/v2/p1/os-fping/" + E)
    assert (status, body) == (200, {"server": {"id": E, "project_id": "p1", "alive": False}})
    up.down()
    assert api.get("/v2/p1/os-fping/" + A)[1]["server"]["alive"] is False
    up.up()
    assert api.get("/v2/p1/os-fping/" + A)[1]["server"]["alive"] is True
    assert api.fping_runs() == 4


@pytest.fixture
def tenants(instances, start_api):
    hosts = [instances() for _ in range(4)]
    hosts[3].down()
    return start_api(
        [
            {"id": A, "project_id": "p1", "addresses": hosts[0].addresses},
            {"id": B, "project_id": "p1", "addresses": hosts[3].addresses},
            {"id": C, "project_id": "p2", "addresses": hosts[1].addresses},
            {"id": D, "project_id": "p3", "addresses": hosts[2].addresses},
        ]
    )


def test_include_exclude_all_tenants(tenants):
    api = tenants
    assert by_id(api.get("/v2/p1/os-fping")[1]) == {A: ("p1", True), B: ("p1", False)}
    everyone = api.get("/v2/p1/os-fping?all_tenants=1", roles="admin")[1]
    assert by_id(everyone) == {A: ("p1", True), B: ("p1", False), C: ("p2", True), D: ("p3", True)}
    assert set(by_id(api.get("/v2/p1/os-fping?all_tenants=1&include=%s,%s" % (C, B), roles="admin")[1])) == {B, C}
    assert set(by_id(api.get("/v2/p1/os-fping?all_tenants=1&exclude=%s" % A, roles="admin")[1])) == {B, C, D}
    # exclude is ignored when include is given
    both = api.get("/v2/p1/os-fping?all_tenants=1&include=%s&exclude=%s" % (C, C), roles="admin")[1]
    assert set(by_id(both)) == {C}
    # without all_tenants, include only narrows the caller's own servers
    assert set(by_id(api.get("/v2/p1/os-fping?include=%s,%s" % (A, C))[1])) == {A}
    assert api.get("/v2/p1/os-fping?include=" + D)[1] == {"servers": []}


def test_policy_defaults(tenants):
    api = tenants
    status, body, _ = api.get("/v2/p1/os-fping?all_tenants=1")
    assert status == 403
    assert "os_compute_api:os-fping:all_tenants" in body["forbidden"]["message"]
    assert api.get("/v2/p2/os-fping", project="p1")[0] == 403  # another project's URL
    assert api.get("/v2/p2/os-fping", project="p1", roles="admin")[0] == 200  # admin may
    assert api.get("/v2/p1/os-fping/" + C)[0] == 404  # not visible to p1: as if it did not exist
    assert api.get("/v2/p2/os-fping/" + C, project="p2")[1]["server"]["alive"] is True
    assert api.get("/v2/p1/os-fping/" + C, roles="admin")[0] == 200


def _api_with_policy(instances, start_api, tmp_path, rules: str):
    """The API with the policy file `rules`, and server A of project p2 alive."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(rules)
    host = instances()
    return start_api(
        [{"id": A, "project_id": "p2", "addresses": host.addresses}], conf_text="[policy]\nfile = %s\n" % policy
    )


def test_policy_file_overrides(instances, start_api, tmp_path):
    api = _api_with_policy(instances, start_api, tmp_path, '"os_compute_api:os-fping:all_tenants": "role:monitor"\n')
    assert api.get("/v2/p1/os-fping?all_tenants=1", roles="monitor")[0] == 200
    assert api.get("/v2/p1/os-fping?all_tenants=1", roles="admin")[0] == 403


def test_context_is_admin_override_decides_who_is_admin_everywhere(instances, start_api, tmp_path):
    # an operator makes `cloud-admin` the admin role: another project's URL, all_tenants and another
    # project's server follow it, and the role named admin is no longer special
    api = _api_with_policy(instances, start_api, tmp_path, '"context_is_admin": "role:cloud-admin"\n')
    assert api.get("/v2/p2/os-fping", project="p1", roles="cloud-admin")[0] == 200
    assert by_id(api.get("/v2/p1/os-fping?all_tenants=1", roles="cloud-admin")[1]) == {A: ("p2", True)}
    assert api.get("/v2/p1/os-fping/" + A, roles="cloud-admin")[0] == 200
    assert api.get("/v2/p2/os-fping", project="p1", roles="admin")[0] == 403
    assert api.get("/v2/p1/os-fping?all_tenants=1", roles="admin")[0] == 403


def test_errors_404_400_401(tenants):
    api = tenants
    status, body, _ = api.get("/v2/p1/os-fping/" + str(uuid.uuid4()))
    assert status == 404
    assert "could not be found" in body["itemNotFound"]["message"]
    status, body, _ = api.get("/v2/p1/os-fping/not-a-uuid")
    assert status == 400
    assert "not-a-uuid" in body["badRequest"]["message"]
    status, body, _ = api.get("/v2/p1/os-fping?include=%s,bogus,also-bad" % A)
    assert status == 400
    assert "also-bad, bogus" in body["badRequest"]["message"]
    assert api.get("/v2/p1/os-fping", project="")[0] == 401
    assert api.fping_runs() == 0  # nothing was pinged for a refused request


def test_rate_limit_default_12_per_hour(start_api):
    api = start_api([{"id": A, "project_id": "p1", "addresses": []}])
    for _ in range(12):
        assert api.get("/v2/p1/os-fping")[0] == 200
    status, body, headers = api.get("/v2/p1/os-fping")
    assert status == 413
    assert body["overLimit"]["code"] == 413
    assert 3500 <= int(headers["Retry-After"]) <= 3600
    assert body["overLimit"]["retryAfter"] == headers["Retry-After"]
    assert api.get("/v2/p2/os-fping", project="p2")[0] == 200  # per project


def test_rate_limit_from_config(start_api):
    api = start_api(
        [{"id": A, "project_id": "p1", "addresses": []}], conf_text="[rate_limit]\ncalls = 2\nperiod = 60\n"
    )
    assert [api.get("/v2/p1/os-fping")[0] for _ in range(3)] == [200, 200, 413]


def test_fping_missing_or_failing_is_503(instances, start_api, tmp_path):
    host = instances()
    servers = [{"id": A, "project_id": "p1", "addresses": host.addresses}]
    missing = start_api(servers, fping="/nonexistent/fping")
    status, body, _ = missing.get("/v2/p1/os-fping")
    assert status == 503
    assert "fping" in body["serviceUnavailable"]["message"]
    broken = tmp_path / "fping-exit-4"
    broken.write_text("#!/bin/sh\necho 'fping: socket: Operation not permitted' >&2\nexit 4\n")
    broken.chmod(0o755)
    status, body, _ = start_api(servers, fping=str(broken)).get("/v2/p1/os-fping/" + A)
    assert status == 503
    assert "exit status 4" in body["serviceUnavailable"]["message"]
