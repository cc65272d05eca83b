"""Upstream pins and rpm's EVR order."""

from __future__ import annotations

from altai_release.rpm.evr import Pin, highest, parse_pin
from altai_release.rpm.nevra import Nevra


def test_pins_parse_and_match():
    assert parse_pin("fping") == Pin("fping", None)
    assert parse_pin(" fping = 3.10-1.el6 ") == Pin("fping", "3.10-1.el6")
    assert parse_pin("fping =") is None
    assert parse_pin("two words") is None
    nevra = Nevra("fping", 1, "3.10", "1.el6", "x86_64")
    assert Pin("fping", "1:3.10-1.el6").matches(nevra)
    assert Pin("fping", "3.10-1.el6").matches(nevra)
    assert not Pin("fping", "3.10-2.el6").matches(nevra)
    assert not Pin("other", None).matches(nevra)


def test_highest_uses_rpm_order_not_string_order():
    versions = [Nevra("x", None, v, "1", "noarch") for v in ("1.9", "1.10", "1.10~rc1")]
    assert highest(versions, lambda n: n) == versions[1]
    assert highest([], lambda n: n) is None
