"""What a build root held, read from mock's installed_pkgs.log, and how two roots differ."""

from __future__ import annotations

from altai_release.builders.builder import RootPackage
from altai_release.builders.rootrecord import installed, of_release, root_changes

LOG = """\
bash-5.2-1.h1.x86_64 1700000000 100 0a1b installed
libaltai-devel-2:1.2-1.el6.x86_64 1700000001 10 ffee installed
short line
"""


def test_installed_packages_are_named_with_the_repository_their_file_is_in():
    found = installed(LOG, {"libaltai-devel-1.2-1.el6.x86_64": "this run"}, "base")
    assert found == (
        RootPackage("bash-5.2-1.h1.x86_64", "0a1b", "base"),
        RootPackage("libaltai-devel-2:1.2-1.el6.x86_64", "ffee", "this run"),
    )
    assert [of_release(p.as_json()) for p in found] == [False, True]


def test_two_roots_differ_by_name_version_and_bytes():
    then = [
        {"nevra": "bash-5.2-1.x86_64", "digest": "aa", "repository": "base"},
        {"nevra": "libaltai-devel-1.2-1.el6.x86_64", "digest": "bb", "repository": "misc"},
        {"nevra": "gone-1-1.noarch", "digest": "cc", "repository": "base"},
    ]
    now = (
        RootPackage("bash-5.2-1.x86_64", "a2", "base"),
        RootPackage("libaltai-devel-2.0-1.el6.x86_64", "dd", "this run"),
        RootPackage("new-1-1.noarch", "ee", "base"),
    )
    assert root_changes(then, now) == [
        "bash 5.2-1.x86_64 (other bytes)",
        "gone 1-1.noarch -> -",
        "libaltai-devel 1.2-1.el6.x86_64 -> 2.0-1.el6.x86_64",
        "new - -> 1-1.noarch",
    ]
    assert root_changes(then, now, limit=1) == ["bash 5.2-1.x86_64 (other bytes)", "3 more"]
    assert root_changes(then[:1], (RootPackage("bash-5.2-1.x86_64", "aa", "base"),)) == []
