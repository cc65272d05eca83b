"""git's wildmatch (wildmatch.c), the matcher of gitattributes and gitignore patterns: `?`, `*`, `**` (with
WM_PATHNAME: `**/`, `/**/` and a trailing `/**` cross directories, a lone `*` does not), bracket expressions
with ranges, `!`/`^` negation, backslash escapes and the POSIX classes (`[[:alpha:]]`), byte by byte.

git's own recursion can take exponential time on a pattern like `*a*a*a*...*b`; here every (pattern, text)
position pair is worked out once (memoized), so a match costs at most len(pattern) x len(text) steps of
len(text) each: `*a` x 12 against 200 characters is instant, where a regex translation never returned."""

from __future__ import annotations

import string
from collections.abc import Callable
from functools import cache

from altai_release.core.errors import InputError

MATCH, NOMATCH, ABORT_ALL, ABORT_TO_STARSTAR = 0, 1, -1, -2

_CLASSES = {
    b"alnum": set((string.ascii_letters + string.digits).encode()),
    b"alpha": set(string.ascii_letters.encode()),
    b"blank": set(b" \t"),
    b"cntrl": set(range(32)) | {127},
    b"digit": set(string.digits.encode()),
    b"graph": set(range(33, 127)),
    b"lower": set(string.ascii_lowercase.encode()),
    b"print": set(range(32, 127)),
    b"punct": set(string.punctuation.encode()),
    b"space": set(b" \t\n\r\x0b\x0c"),
    b"upper": set(string.ascii_uppercase.encode()),
    b"xdigit": set(string.hexdigits.encode()),
}
_SPECIAL = set(b"*?[\\")
MAX_STEPS = 1_000_000  # (pattern, text) positions worked out for one match: far beyond any real pattern

Recurse = Callable[[int, int], int]


def wildmatch(pattern: bytes, text: bytes, pathname: bool) -> bool:
    """Whether `text` matches `pattern`, as git's wildmatch with WM_PATHNAME when `pathname`."""
    p, t = pattern + b"\0", text + b"\0"
    steps = [0]

    @cache
    def dowild(pi: int, ti: int) -> int:
        steps[0] += 1
        if steps[0] > MAX_STEPS:
            raise InputError(f"the pattern {pattern.decode(errors='replace')!r} is too costly to match")
        return _dowild(p, t, pi, ti, pathname, dowild)

    try:
        return dowild(0, 0) == MATCH
    except RecursionError:
        raise InputError(f"the pattern {pattern.decode(errors='replace')!r} nests too deeply to match") from None


def _bracket(p: bytes, pi: int, t_ch: int) -> tuple[int, bool] | None:
    """The bracket expression starting after `[` at `pi`: (index of its closing `]`, whether `t_ch` is in
    it); None when it never closes or names an unknown class (git's WM_ABORT_ALL)."""
    p_ch = p[pi]
    negated = p_ch in b"!^"
    if negated:
        pi += 1
        p_ch = p[pi]
    prev_ch, matched = 0, False
    while True:
        if not p_ch:
            return None
        if p_ch == ord("\\"):
            pi += 1
            p_ch = p[pi]
            if not p_ch:
                return None
            matched |= t_ch == p_ch
        elif p_ch == ord("-") and prev_ch and p[pi + 1] and p[pi + 1] != ord("]"):
            pi += 1
            p_ch = p[pi]
            if p_ch == ord("\\"):
                pi += 1
                p_ch = p[pi]
                if not p_ch:
                    return None
            matched |= prev_ch <= t_ch <= p_ch
            p_ch = 0
        elif p_ch == ord("[") and p[pi + 1] == ord(":"):
            start = pi + 2
            end = start
            while p[end] and p[end] != ord("]"):
                end += 1
            if not p[end]:
                return None
            if end - start - 1 < 0 or p[end - 1] != ord(":"):  # no ":]": a plain '['
                matched |= t_ch == ord("[")
            else:
                members = _CLASSES.get(p[start : end - 1])
                if members is None:
                    return None
                matched |= t_ch in members
                pi, p_ch = end, 0
        else:
            matched |= t_ch == p_ch
        prev_ch = p_ch
        pi += 1
        p_ch = p[pi]
        if p_ch == ord("]"):
            return pi, matched != negated


def _star(p: bytes, t: bytes, pi: int, ti: int, pathname: bool, recurse: Recurse) -> int:  # noqa: C901 (git's own case, kept as it reads)
    """A `*` or `**` at `pi` (the text at `ti`), as git's case '*'."""
    pi += 1
    if p[pi] == ord("*"):
        prev = pi
        while p[pi] == ord("*"):
            pi += 1
        if not pathname:
            match_slash = True
        elif (prev < 2 or p[prev - 2] == ord("/")) and (
            p[pi] in (0, ord("/")) or (p[pi] == ord("\\") and p[pi + 1] == ord("/"))
        ):
            if p[pi] == ord("/") and recurse(pi + 1, ti) == MATCH:
                return MATCH
            match_slash = True
        else:
            match_slash = False
    else:
        match_slash = not pathname
    if not p[pi]:
        if not match_slash and ord("/") in t[ti:-1]:
            return ABORT_TO_STARSTAR
        return MATCH
    if not match_slash and p[pi] == ord("/"):
        slash = t.find(b"/", ti, len(t) - 1)
        if slash < 0:
            return ABORT_ALL
        return recurse(pi + 1, slash + 1)
    while True:
        t_ch = t[ti]
        if not t_ch:
            break
        if p[pi] not in _SPECIAL:
            while t[ti] and (match_slash or t[ti] != ord("/")) and t[ti] != p[pi]:
                ti += 1
            t_ch = t[ti]
            if t_ch != p[pi]:
                return ABORT_ALL if match_slash else ABORT_TO_STARSTAR
        matched = recurse(pi, ti)
        if matched != NOMATCH:
            if not match_slash or matched != ABORT_TO_STARSTAR:
                return matched
        elif not match_slash and t_ch == ord("/"):
            return ABORT_TO_STARSTAR
        ti += 1
    return ABORT_ALL


def _dowild(p: bytes, t: bytes, pi: int, ti: int, pathname: bool, dowild: Recurse) -> int:
    while p[pi]:
        p_ch, t_ch = p[pi], t[ti]
        if not t_ch and p_ch != ord("*"):
            return ABORT_ALL
        if p_ch == ord("*"):
            return _star(p, t, pi, ti, pathname, dowild)
        if p_ch == ord("?"):
            if pathname and t_ch == ord("/"):
                return NOMATCH
        elif p_ch == ord("["):
            found = _bracket(p, pi + 1, t_ch)
            if found is None:
                return ABORT_ALL
            pi, matched = found
            if not matched or (pathname and t_ch == ord("/")):
                return NOMATCH
        else:
            if p_ch == ord("\\"):
                pi += 1
                p_ch = p[pi]
            if t_ch != p_ch:
                return NOMATCH
        pi += 1
        ti += 1
    return NOMATCH if t[ti] else MATCH
