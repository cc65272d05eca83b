"""git's wildmatch, ported: the matcher of gitattributes patterns. Cases from wildmatch(7)'s rules (classes,
ranges, escapes, `**` forms), and patterns that make a backtracking matcher take exponential time."""

from __future__ import annotations

import pytest
from altai_release.core.errors import InputError
from altai_release.git.wildmatch import wildmatch


@pytest.mark.parametrize(
    ("pattern", "text", "pathname", "expected"),
    [
        ("foo", "foo", True, True),
        ("foo", "bar", True, False),
        ("", "", True, True),
        ("???", "foo", True, True),
        ("??", "foo", True, False),
        ("*", "foo", True, True),
        ("f*", "foo", True, True),
        ("*f", "foo", True, False),
        ("*foo*", "foo", True, True),
        ("*ob*a*r*", "foobar", True, True),
        ("*ab", "aaaaaaabababab", True, True),
        ("foo\\*", "foo*", True, True),
        ("foo\\*bar", "foobar", True, False),
        ("f\\\\oo", "f\\oo", True, True),
        ("*[al]?", "ball", True, True),
        ("[ten]", "ten", True, False),
        ("**[!te]", "ten", True, True),
        ("**[!ten]", "ten", True, False),
        ("t[a-g]n", "ten", True, True),
        ("t[!a-g]n", "ten", True, False),
        ("t[^a-g]n", "ton", True, True),
        ("a[]]b", "a]b", True, True),
        ("a[]-]b", "a-b", True, True),
        ("a[]a-]b", "aab", True, True),
        ("]", "]", True, True),
        # `*` stops at a slash with WM_PATHNAME, `**` does not; without it both cross
        ("foo*bar", "foo/baz/bar", True, False),
        ("foo*bar", "foo/baz/bar", False, True),
        ("foo**bar", "foo/baz/bar", True, False),
        ("foo/**/bar", "foo/baz/bar", True, True),
        ("foo/**/bar", "foo/bar", True, True),
        ("foo/**/bar", "foo/b/a/z/bar", True, True),
        ("**/foo", "foo", True, True),
        ("**/foo", "x/y/foo", True, True),
        ("**/bar*", "deep/foo/bar/baz", True, False),
        ("**/bar/*", "deep/foo/bar/baz", True, True),
        ("**/bar/**", "deep/foo/bar/baz/", True, True),
        ("foo/**", "foo/bar/baz", True, True),
        ("foo/*", "foo/bar/baz", True, False),
        ("*/bar/**", "foo/bar/baz/x", True, True),
        ("foo?bar", "foo/bar", True, False),
        ("foo[/]bar", "foo/bar", True, False),
        ("foo[^a-z]bar", "foo/bar", True, False),
        # POSIX classes
        ("[[:alpha:]][[:digit:]][[:upper:]]", "a1B", True, True),
        ("[[:digit:][:upper:][:space:]]", "a", True, False),
        ("[[:digit:][:upper:][:space:]]", " ", True, True),
        ("[[:digit:][:punct:][:space:]]", ".", True, True),
        ("[[:xdigit:]]", "f", True, True),
        ("[[:xdigit:]]", "g", True, False),
        ("[a-c[:digit:]x-z]", "5", True, True),
        ("[a-c[:digit:]x-z]", "y", True, True),
        ("[a-c[:digit:]x-z]", "q", True, False),
        ("[[:alpha:]", "a", True, False),  # never closes: no match, and no error
        ("[[:nope:]]", "a", True, False),  # an unknown class
        ("[[:alpha:]x", "x", True, False),
        ("[a", "a", True, False),  # an open bracket: what the regex translation raised re.error on
        ("[[:alpha", "a", True, False),
    ],
)
def test_wildmatch(pattern, text, pathname, expected):
    assert wildmatch(pattern.encode(), text.encode(), pathname) is expected


def test_patterns_that_backtrack_exponentially_stay_bounded():
    """`*a*a*a...*b` against 200 characters never returned from the regex translation (nor from SIGTERM);
    each (pattern, text) position is worked out once, far below the step bound."""
    name = ("a" * 200).encode()
    assert wildmatch(b"*a" * 12 + b"*b", name, pathname=True) is False
    assert wildmatch(b"*a" * 12 + b"*b", name, pathname=False) is False
    assert wildmatch(b"**a" * 30 + b"**b", b"/".join([b"a" * 20] * 10), pathname=True) is False
    assert wildmatch(b"*a" * 12 + b"*", name, pathname=True) is True


def test_a_pattern_too_deep_for_the_matcher_is_one_error():
    with pytest.raises(InputError, match="nests too deeply|too costly"):
        wildmatch(b"*a" * 3000 + b"*b", b"a" * 4000, pathname=True)
