"""Test helpers that make real things with the real tools, not with the code under test: gpg keys (gpg),
RPMs built with rpmbuild and signed with plain rpmsign, yum repositories with the createrepo_c command,
and an HTTP server on 127.0.0.1 that serves a directory."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class TestKey:
    __test__ = False  # a key, not a test class
    home: Path  # its GNUPGHOME
    fingerprint: str

    def public(self) -> bytes:
        return subprocess.run(
            ["gpg", "--batch", "--homedir", str(self.home), "--armor", "--export", self.fingerprint],
            check=True,
            capture_output=True,
        ).stdout


def make_key(home: Path, uid: str, passphrase: str = "") -> TestKey:
    """An RSA signing key made by gpg in `home` (the one way the tests make keys)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--homedir",
            str(home),
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--quick-gen-key",
            uid,
            "rsa2048",
            "sign",
            "never",
        ],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        ["gpg", "--batch", "--homedir", str(home), "--with-colons", "--list-keys", uid],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    fingerprints = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")]
    return TestKey(home, fingerprints[-1])


def public_key(key: TestKey) -> bytes:
    return key.public()


def rpmsign(key: TestKey, packages: Sequence[Path]) -> None:
    """Sign with rpmsign itself, as an upstream would."""
    subprocess.run(
        [
            "rpmsign",
            "--addsign",
            "--define",
            "__gpg /usr/bin/gpg",
            "--define",
            f"_gpg_path {key.home}",
            "--define",
            f"_gpg_name {key.fingerprint}",
            *map(str, packages),
        ],
        check=True,
        capture_output=True,
    )


def build_rpm(
    workdir: Path,
    name: str,
    version: str = "1.0",
    release: str = "1",
    provides: Sequence[str] = (),
    requires: Sequence[str] = (),
    payload: str = "",
    signer: TestKey | None = None,
) -> Path:
    """A real noarch RPM, built by rpmbuild and signed by `signer`."""
    top = workdir / f"top-{name}-{version}-{release}"
    tags = "\n".join([*(f"Provides: {p}" for p in provides), *(f"Requires: {r}" for r in requires)])
    spec = top / f"{name}.spec"
    top.mkdir(parents=True)
    spec.write_text(SPEC.format(name=name, version=version, release=release, tags=tags, payload=payload or name))
    subprocess.run(
        ["rpmbuild", "--quiet", "-bb", "--define", f"_topdir {top}", "--define", "__python3 %{nil}", str(spec)],
        check=True,
        capture_output=True,
    )
    (rpm_path,) = (top / "RPMS").rglob("*.rpm")
    if signer is not None:
        rpmsign(signer, [rpm_path])
    return rpm_path


def make_repo(directory: Path, packages: Sequence[Path]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for pkg in packages:
        target = directory / pkg.name
        if not target.exists():
            target.write_bytes(pkg.read_bytes())
    subprocess.run(
        ["createrepo_c", "--quiet", "--general-compress-type", "gz", str(directory)], check=True, capture_output=True
    )
    return directory


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    with serve_with(functools.partial(_QuietHandler, directory=str(directory))) as url:
        yield url


@contextmanager
def serve_with(handler: Callable[..., http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) answering with `handler`; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# what specs/nova-fping.spec and specs/instance-notifier.spec Require from CentOS and EPEL
BASE_OS_REQUIRES = (
    "python3-webob",
    "python3-oslo-policy",
    "python3-oslo-config",
    "python3-oslo-context",
    "python3-oslo-log",
    "python3-paste-deploy",
    "python3-keystonemiddleware",
    "python3-keystoneauth1",
    "python3-novaclient",
    "python3-waitress",
    "chkconfig",
    "initscripts",
    "logrotate",
    "yum-plugin-priorities",  # altai-release needs it on EL6
)


def base_os_packages(work: Path, key: TestKey, with_fping: bool = True) -> list[Path]:
    """Stand-ins for the base OS packages our packages Require (python3 with its ABI, a /bin/sh, ...)."""
    rpms = [
        build_rpm(work, "python3", "3.6.8", "1", provides=["python(abi) = 3.6", "/usr/bin/python3"], signer=key),
        build_rpm(work, "bash", "4.1.2", "1", provides=["/bin/sh"], signer=key),
    ]
    names = (*BASE_OS_REQUIRES, *(["fping"] if with_fping else []))
    return rpms + [build_rpm(work, name, "1.0", "1", signer=key) for name in names]


def base_os_repo(tmp: Path, leave_out: str = "") -> Path:
    """A signed base OS repository (file://) of base_os_packages, but those named `leave_out...`, and the
    .repo file naming it with its key (what --gate and --accept take as --base-repos)."""
    key = make_key(tmp / "base-gnupg", "Test Base OS Key")
    rpms = [p for p in base_os_packages(tmp / "base-rpms", key) if not leave_out or not p.name.startswith(leave_out)]
    repo = make_repo(tmp / "base", rpms)
    (tmp / "RPM-GPG-KEY-base").write_bytes(public_key(key))
    repo_file = tmp / "base.repo"
    repo_file.write_text(
        f"[base]\nname=base\nbaseurl={repo.as_uri()}/\ngpgcheck=1\ngpgkey={(tmp / 'RPM-GPG-KEY-base').as_uri()}\n"
    )
    return repo_file


@contextmanager
def served_release(out: Path, work: Path) -> Iterator[Path]:
    """The release tree `out` served over HTTP on 127.0.0.1; yields a yum.repos.d holding its altai.repo
    pointed at the server (the tree's own altai.repo names file:// + OUT)."""
    www = work / "www"
    www.mkdir()
    (www / "altai").symlink_to(out)
    with serve(www) as url:
        reposdir = work / "yum.repos.d"
        reposdir.mkdir()
        (reposdir / "altai.repo").write_text((out / "altai.repo").read_text().replace(out.as_uri(), f"{url}/altai"))
        yield reposdir
