"""Downloads of what the release is made of from elsewhere (upstream repodata and packages, source RPMs,
lookaside files): http(s):// and file:// only, redirects only to http(s):// (never down from https), every
file bounded in size and in time (a deadline for the whole file, not only between two reads), a body
shorter than the server announced reported as truncated, hashed while it streams, and written into an
unnamed file that gets its name only when it is whole and verified: no exit, even a kill, leaves a part."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import socket
import stat
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from altai_release.core.errors import UpstreamError, VerificationError
from altai_release.core.hashing import file_sha256
from altai_release.core.limits import DEFAULT_DOWNLOAD_LIMITS as DEFAULT_LIMITS
from altai_release.core.limits import DownloadLimits

MIB = 1024 * 1024


class _Redirects(urllib.request.HTTPRedirectHandler):
    """A redirect obeys the rule a URL does: http(s) only, and never from https down to http."""

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:
            newurl = urllib.parse.urljoin(req.full_url, location)
            scheme = urllib.parse.urlsplit(newurl).scheme
            if scheme not in ("http", "https") or (req.full_url.startswith("https:") and scheme != "https"):
                raise UpstreamError(f"{req.full_url} redirects to {newurl}, which is not an allowed URL (http(s) only)")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_opener = urllib.request.build_opener(_Redirects)


def _opener_for(cafile: str | None) -> urllib.request.OpenerDirector:
    if cafile is None:
        return _opener
    import ssl

    return urllib.request.build_opener(
        _Redirects, urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile))
    )


class _Unnamed:
    """A new file in `directory` without a name (O_TMPFILE) until `name()` links it in; where the filesystem
    has no O_TMPFILE, a hidden named one removed on every exit but a kill."""

    def __init__(self, directory: Path) -> None:
        self.path: Path | None = None
        try:
            self.fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
            self.path = directory / f".incoming-{os.getpid()}-{threading.get_ident()}"
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)

    def name(self, dest: Path) -> None:
        os.fsync(self.fd)
        if self.path is not None:
            os.replace(self.path, dest)
            self.path = None
            return
        temporary = dest.with_name(f".{dest.name}.{os.getpid()}-{threading.get_ident()}")
        # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N gives the unnamed file a name; Python calls plain
        # link(), which does not follow, unless a directory descriptor is given
        fds = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.link(str(self.fd), temporary, src_dir_fd=fds, follow_symlinks=True)
        finally:
            os.close(fds)
        os.replace(temporary, dest)

    def close(self) -> None:
        os.close(self.fd)
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _socket_of(response: Any) -> socket.socket | None:
    raw = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def fetch(
    url: str,
    dest: Path,
    what: str,
    limits: DownloadLimits = DEFAULT_LIMITS,
    algorithm: str = "sha256",
    expect: str | None = None,
    expect_from: str = "its checksum",
    size: int | None = None,
    cafile: str | None = None,
) -> str:
    """`url` into `dest` (whole, or not at all); the file's `algorithm` hex digest, which must be `expect`
    when given (else VerificationError, and nothing is kept). `size`: the bytes the file must have (a larger
    one is cut at one byte more); `cafile`: the CA bundle an https server is checked against (else the
    system's). An error names `what` and the URL: UpstreamError for a server that cannot be read, refuses,
    sends too much, too slowly or too little."""
    if not url.startswith(("http://", "https://", "file://")):
        raise UpstreamError(f"{what}: refusing to fetch {url!r} (http://, https:// or file:// only)")
    if url.startswith("file://"):
        _check_public(url, what)
    deadline = time.monotonic() + limits.seconds
    digest = hashlib.new(algorithm)
    out = _Unnamed(dest.parent)
    expired = threading.Event()
    try:
        try:
            response = _opener_for(cafile).open(url, timeout=min(limits.idle_seconds, limits.seconds))
        except UpstreamError as exc:
            raise UpstreamError(f"{what}: {exc}") from None
        with response:
            cap = limits.max_bytes if size is None else min(limits.max_bytes, size)
            expected = _announced(response, url, what, limits)
            if size is not None and expected is not None and expected != size:
                raise UpstreamError(f"{what}: {url} is {expected} bytes, expected {size}")
            received = _copy(response, out.fd, digest, deadline, expired, cap)
            if expired.is_set():
                raise UpstreamError(f"{what}: {url} took longer than {limits.seconds:.0f}s; stopped")
            if received > cap:
                raise UpstreamError(
                    f"{what}: {url} sends more than {'the limit of ' if size is None else ''}{cap} bytes"
                )
            if expected is not None and received != expected:
                raise UpstreamError(f"{what}: {url} was truncated: {received} of {expected} bytes")
            if size is not None and received != size:
                raise UpstreamError(f"{what}: {url} has {received} bytes, expected {size}")
        actual = digest.hexdigest()
        if expect is not None and actual != expect:
            raise VerificationError(
                f"{what}: {url} does not match {expect_from} ({algorithm} {actual}, expected {expect})"
            )
        out.name(dest)
        return actual
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        if expired.is_set():
            raise UpstreamError(f"{what}: {url} took longer than {limits.seconds:.0f}s; stopped") from exc
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise
        raise UpstreamError(f"{what}: cannot fetch {url}: {_fault(exc)}") from exc
    finally:
        out.close()


def _announced(response: Any, url: str, what: str, limits: DownloadLimits) -> int | None:
    """The Content-Length a server announces, refused when malformed or above the limit."""
    announced = response.headers.get("Content-Length") if hasattr(response, "headers") else None
    if announced is not None and not announced.strip().isdigit():
        raise UpstreamError(f"{what}: {url} sends a malformed Content-Length ({announced[:40]!r})")
    expected = int(announced) if announced is not None else None
    if expected is not None and expected > limits.max_bytes:
        raise UpstreamError(f"{what}: {url} is {expected} bytes, more than the limit of {limits.max_bytes}")
    return expected


def _copy(response: Any, fd: int, digest: Any, deadline: float, expired: threading.Event, cap: int = 0) -> int:
    """The body into `fd` and `digest` until its end, the deadline (`expired` set) or one byte beyond `cap`
    (the caller's limit): the bytes received."""
    sock = _socket_of(response)

    def expire() -> None:  # a server that dribbles a byte a minute: the whole file has a deadline
        expired.set()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(deadline - time.monotonic(), 0.0), expire)
    timer.daemon = True
    timer.start()
    received = 0
    try:
        while chunk := response.read(MIB):
            received += len(chunk)
            if cap and received > cap:
                break
            if time.monotonic() > deadline:
                expire()
                break
            digest.update(chunk)
            os.write(fd, chunk)
    finally:
        timer.cancel()
    return received


def _check_public(url: str, what: str) -> None:
    """A file:// input of a release is a public file: readable by everyone and regular. The tool may run as
    root, and a layout naming file:///etc/shadow must not make it read (and print the digest of) a secret."""
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    try:
        info = os.stat(path)
    except OSError as exc:
        raise UpstreamError(f"{what}: cannot fetch {url}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UpstreamError(f"{what}: {url} is not a regular file")
    if not info.st_mode & stat.S_IROTH:
        raise UpstreamError(f"{what}: {url} is not readable by everyone; a release's input is a public file")


def _fault(exc: BaseException) -> str:
    """What went wrong, said as a user reads it: the server's fault, not the client library's class."""
    if isinstance(exc, urllib.error.HTTPError):
        if 300 <= exc.code < 400 and "infinite loop" in str(exc.msg):
            return f"it redirects in a loop or more than {urllib.request.HTTPRedirectHandler.max_redirections} times"
        return f"HTTP {exc.code} {str(exc.reason).splitlines()[0] if exc.reason else ''}".rstrip()
    if isinstance(exc, http.client.IncompleteRead):
        return f"the body was cut short or its chunks are broken ({len(exc.partial)} bytes read)"
    if isinstance(exc, http.client.LineTooLong):
        return "the server sends a line over 64 KiB (a status or header line)"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without an answer"
    if isinstance(exc, http.client.BadStatusLine):
        return f"the server's answer is not HTTP ({str(exc).strip()[:60]!r})"
    if isinstance(exc, http.client.HTTPException):
        return f"a malformed HTTP answer ({exc})"
    return str(getattr(exc, "reason", None) or exc)


def fetch_verified(url: str, sha256: str, cache: Path, what: str, limits: DownloadLimits = DEFAULT_LIMITS) -> Path:
    """The file of that SHA-256, from `cache` or fetched from `url` into it; a download of other bytes is
    an error and is not kept."""
    target = cache / "sha256" / sha256
    if target.is_file() and file_sha256(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fetch(url, target, what, limits, expect=sha256, expect_from="the layout's sha256")
    return target
