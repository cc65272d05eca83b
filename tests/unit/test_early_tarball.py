"""The guess that lets git2srpm pack the tarball while the spec is read: only what the spec states plainly."""

from __future__ import annotations

import pytest
from altai_release.sources.early_tarball import Guess, guess

PLAIN = "Name: hello\nVersion: 1.0\nRelease: 1\nSource0: %{name}-%{version}.tar.gz\n"


def test_plain_tags_and_source0_macros():
    assert guess(PLAIN) == Guess("hello-1.0", "hello-1.0.tar.gz")
    url = "Name:\thello\nversion : 2.1 \nSource: https://example.com/dl/%name/v%version.tar.gz#/%name-%version.tar.xz\n"
    assert guess(url) == Guess("hello-2.1", "hello-2.1.tar.xz")


@pytest.mark.parametrize(
    "text",
    [
        "Name: %{pypi_name}\nVersion: 1.0\nSource0: x.tar.gz\n",  # a macro rpm expands
        "Name: hello\nVersion: %{ver}\nSource0: x.tar.gz\n",
        "Name: hello\nVersion: 1.0\nSource0: %{url}/x-%{commit}.tar.gz\n",
        "Name: hello\nVersion: 1.0\n",  # no Source0
        "Name: hello\n%if 0%{?rhel}\nVersion: 1.0\n%else\nVersion: 2.0\n%endif\nSource0: x.tar.gz\n",  # twice
        "Name: hello\nVersion: 1.0\nSource: a.tar.gz\nSource0: b.tar.gz\n",  # Source and Source0 both
        "Name: hello\nVersion: 1.0\nSource0: hello-1.0.zip\n",  # not an archive git2srpm makes
        "Name: hello\nVersion: 1.0\nSource0: https://example.com/\n",  # no file name
    ],
)
def test_what_only_rpm_can_tell_is_not_guessed(text):
    assert guess(text) is None
