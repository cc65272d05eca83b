"""--snapshot's Release suffix: before %{?dist}, and a spec without Release is refused."""

from __future__ import annotations

import pytest
from altai_release.core.errors import BadSpecError
from altai_release.specfile.snapshot import add_release_suffix, snapshot_suffix


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Release: 1%{?dist}", "Release: 1.git.12.abcdef1%{?dist}"),
        ("Release:   3%{dist}", "Release:   3.git.12.abcdef1%{dist}"),
        ("release: 2", "release: 2.git.12.abcdef1"),
    ],
)
def test_release_suffix_goes_before_dist(line, expected):
    suffix = snapshot_suffix(12, "abcdef1234567")
    assert add_release_suffix(f"Name: x\n{line}\n", suffix, "x.spec") == f"Name: x\n{expected}\n"


def test_release_suffix_needs_a_release_line():
    with pytest.raises(Exception, match="no Release: line"):
        add_release_suffix("Name: x\n", ".git.1.abc", "x.spec")


def test_only_the_preamble_is_changed():
    """A `Release:` line in %description or %changelog is text: it was rewritten too."""
    spec = (
        "Name: x\nRelease: 1%{?dist}\n%description\nRelease: notes for admins\n"
        "%package extra\nSummary: e\n%changelog\nRelease: 2 had a typo\n"
    )
    done = add_release_suffix(spec, ".git.3.abcdef0", "x.spec")
    assert done == spec.replace("Release: 1%{?dist}", "Release: 1.git.3.abcdef0%{?dist}")
    with pytest.raises(BadSpecError, match="no Release: line in its preamble"):
        add_release_suffix("Name: x\n%description\nRelease: 1\n", ".git.1.abc", "x.spec")
