"""The tail of a failed Koji build's log that goes on the error line."""

from __future__ import annotations

from altai_release.builders.koji import _tail

# the end of a build.log as a real hub's rpmbuild wrote it (a builder without the mockbuild user)
REAL_HUB_LOG = """\
+ echo 'compile error: this package cannot build'
compile error: this package cannot build
+ exit 1
error: Bad exit status from /var/tmp/rpm-tmp.f9zk57 (%build)

RPM build warnings:
    user mockbuild does not exist - using root
    user mockbuild does not exist - using root

RPM build errors:
    Bad exit status from /var/tmp/rpm-tmp.f9zk57 (%build)
"""


def test_tail_keeps_the_failure_and_drops_rpmbuilds_warnings():
    tail = _tail(REAL_HUB_LOG)
    failed = "error: Bad exit status from /var/tmp/rpm-tmp.f9zk57 (%build)"
    assert tail == f"compile error: this package cannot build | + exit 1 | {failed}"
    assert "mockbuild" not in tail


def test_tail_of_a_log_without_rpmbuilds_summary():
    assert _tail("one\ntwo\nthree\nfour\n") == "two | three | four"
