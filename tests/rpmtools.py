"""Test helpers that make real things: gpg keys, RPMs built with rpmbuild and signed with rpmsign, yum
repositories with createrepo_c, and an HTTP server on 127.0.0.1 that serves a directory."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from altai_release.repodata import write_repodata
from altai_release.signing import Keyring, SigningIdentity, sign_packages

SPEC = """\
Name: {name}
Version: {version}
Release: {release}
Summary: test package {name}
License: MIT
BuildArch: noarch
{tags}
%description
Test package {name}.
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo '{payload}' > %{{buildroot}}/usr/share/{name}/payload
%files
/usr/share/{name}
"""


def make_key(home: Path, uid: str, key_name: str) -> SigningIdentity:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    subprocess.run(["gpg", "--batch", "--homedir", str(home), "--pinentry-mode", "loopback", "--passphrase", "",
                    "--quick-gen-key", uid, "rsa2048", "sign", "never"], check=True, capture_output=True)  # fmt: skip
    fpr = Keyring(home).secret_fingerprint(uid)
    assert fpr
    return SigningIdentity(key_name, fpr, Keyring(home), False)


def public_key(identity: SigningIdentity) -> bytes:
    return identity.keyring.export_public(identity.fingerprint)


def build_rpm(workdir: Path, name: str, version: str = "1.0", release: str = "1",
              provides: Sequence[str] = (), requires: Sequence[str] = (), payload: str = "",
              signer: SigningIdentity | None = None) -> Path:  # fmt: skip
    """A real noarch RPM, built by rpmbuild and signed by `signer`."""
    top = workdir / f"top-{name}-{version}-{release}"
    tags = "\n".join([*(f"Provides: {p}" for p in provides), *(f"Requires: {r}" for r in requires)])
    spec = top / f"{name}.spec"
    top.mkdir(parents=True)
    spec.write_text(SPEC.format(name=name, version=version, release=release, tags=tags, payload=payload or name))
    subprocess.run(["rpmbuild", "--quiet", "-bb", "--define", f"_topdir {top}", "--define", "__python3 %{nil}",
                    str(spec)], check=True, capture_output=True)  # fmt: skip
    (rpm_path,) = (top / "RPMS").rglob("*.rpm")
    if signer is not None:
        sign_packages(signer, [rpm_path])
    return rpm_path


def make_repo(directory: Path, packages: Sequence[Path]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for pkg in packages:
        target = directory / pkg.name
        if not target.exists():
            target.write_bytes(pkg.read_bytes())
    write_repodata(directory, {}, 1)
    return directory


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
