"""FakeKojiHub checked against Koji itself: every call it serves has the name and the signature of the hub's
own function, as koji 1.35.3's hub lists them (`_listapi()`, recorded in koji-1.35.3-api.json with how it
was recorded), and its builds carry the keys of the hub's listBuilds rows. A double that accepts what the
real hub refuses would hide a defect of the koji builder."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from fakekoji.calls import HubCalls, build_row

RECORDED = json.loads(
    (Path(__file__).resolve().parents[1] / "doubles" / "fakekoji" / "koji-1.35.3-api.json").read_text()
)
REAL = {f["name"]: f["argdesc"] for f in RECORDED["api"]}
FAKE = HubCalls.api.fget(HubCalls.__new__(HubCalls))  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(FAKE))
def test_each_call_has_the_hubs_name_and_signature(name):
    assert name in REAL, f"the hub has no call {name!r}"
    fake = "({})".format(", ".join(str(p) for p in inspect.signature(FAKE[name]).parameters.values()))
    if name == "sslLogin":
        # the hub's sslLogin(*args, **opts) hands them to Session.sslLogin, whose parameters the fake takes
        assert REAL[name] == "(*args, **opts)"
        assert fake == "(proxyuser=None, proxyauthtype=None, renew=False, exclusive=None)"
    else:
        assert fake == REAL[name]


def test_a_build_has_the_keys_of_the_hubs_listbuilds_rows():
    nevra = SimpleNamespace(name="p", version="1", release="1", epoch=None)
    row = build_row(7, nevra, 3, 11, 0.0)
    assert sorted(set(row) - {"id"}) == RECORDED["listBuilds_keys"]
