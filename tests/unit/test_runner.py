"""What a tool says went wrong: the line that says why."""

from __future__ import annotations

from altai_release.core.runner import reason


def test_reason_picks_the_line_that_says_why():
    rpm_out = (
        "Executing(%build)\nerror: Bad exit status from /var/tmp/x (%build)\n\n"
        "RPM build errors:\n    Bad exit status from /var/tmp/x (%build)\n"
    )
    assert reason(rpm_out, ("error:", "Bad exit status"), after="RPM build errors:", last=True) == (
        "Bad exit status from /var/tmp/x (%build)"
    )
    # mock reads stdout and stderr from two pipes: the marker can come after what it heads
    mock_log = (
        "error: compiler exploded\n+ exit 1\nerror: Bad exit status from /var/tmp/x (%build)\n"
        "    Bad exit status from /var/tmp/x (%build)\nRPM build errors:\nChild return code was: 1\n"
    )
    assert reason(mock_log, ("error:", "Bad exit status"), after="RPM build errors:", last=True) == (
        "Bad exit status from /var/tmp/x (%build)"
    )
    git_out = "Cloning into 'x'...\nfatal: unable to access 'u': refused\n"
    assert reason(git_out, ("fatal:",)) == "unable to access 'u': refused"
    assert reason("just one line\n", ("error:",)) == "just one line"
    assert reason("", ("error:",)) == ""
