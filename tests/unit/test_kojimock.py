"""kojid's mock command line as the confined mock takes it."""

from __future__ import annotations

import pytest
from altai_release.builders.kojimock import translate


def test_kojids_command_line_becomes_the_config_file_and_simple_isolation():
    name, args = translate(["-r", "koji/t1-el6-build-3-7", "--old-chroot", "--no-clean", "--rebuild", "/w/a.src.rpm"])
    assert name == "t1-el6-build-3-7"
    assert args == [
        "-r",
        "/etc/mock/koji/t1-el6-build-3-7.cfg",
        "--isolation=simple",
        "--no-clean",
        "--rebuild",
        "/w/a.src.rpm",
    ]


@pytest.mark.parametrize(
    "argv",
    [[], ["--init"], ["-r", "fedora-39"], ["-r", "koji/../../etc/x", "--init"], ["-r", "koji/..", "--init"]],
)
def test_anything_but_kojids_command_line_is_refused(argv):
    with pytest.raises(SystemExit, match="kojimock: expected kojid's"):
        translate(argv)
