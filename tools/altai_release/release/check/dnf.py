"""The one wrapper of Debian's dnf, which installs packages of the release into a throwaway root. `dnf
--installroot` run by root runs every scriptlet as the host's root with all its capabilities (and a static
one leaves the installroot's chroot), so dnf runs in the sandbox as root of a user namespace of the
unprivileged range (`userns`): scriptlets, file triggers and every process dnf starts (librepo's
gpg-agents) are nobody of the host and end with the sandbox's PID namespace. The view holds the root, the
repositories' files (every file:// path of the .repo files, read-only) and dnf's configuration; the
network only when a repository is remote, and never while packages are installed (`install` downloads first,
then installs from the cache without network)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from altai_release.core.errors import InputError, SandboxLimitError, ToolError
from altai_release.core.limits import DEFAULT_LIMITS, SandboxLimits
from altai_release.sandbox.bubblewrap import Sandbox
from altai_release.sandbox.scratch import give_to_sandbox
from altai_release.sandbox.userns import mapped_userns

DNF = Path("/usr/bin/dnf")
CHROOT = "/usr/sbin/chroot"
# dnf's own configuration and what a download over https needs
_DNF_ETC = ("/etc/dnf", "/etc/resolv.conf", "/etc/hosts", "/etc/ssl", "/etc/ca-certificates", "/etc/pki")
_URL = re.compile(r"(?:file|https?|ftp)://[^\s,]+")


@dataclass(frozen=True)
class DnfResult:
    returncode: int
    output: str  # stdout and stderr, bounded


@dataclass
class DnfRoot:
    """A throwaway installroot and the .repo files of `reposdir`."""

    root: Path
    reposdir: Path
    limits: SandboxLimits = DEFAULT_LIMITS
    releasever: str = "6"
    more_readonly: list[Path] = field(default_factory=list)  # other host paths the repositories read

    def __post_init__(self) -> None:
        if not DNF.exists():
            raise InputError("dnf is not installed; run scripts/setup.sh")
        self.root.mkdir(parents=True, exist_ok=True)

    def _repositories(self) -> tuple[list[Path], bool]:
        """The host paths of the file:// URLs of the .repo files, and whether one URL is remote."""
        paths: list[Path] = []
        remote = False
        for repo_file in sorted(self.reposdir.glob("*.repo")):
            for url in _URL.findall(repo_file.read_text(encoding="utf-8", errors="replace")):
                parts = urlsplit(url)
                if parts.scheme != "file":
                    remote = True
                elif Path(unquote(parts.path)).exists():
                    paths.append(Path(unquote(parts.path)))
        return list(dict.fromkeys(paths)), remote

    def run(self, *args: str, plugins: Sequence[str] = ("--noplugins",), network: bool | None = None) -> DnfResult:
        """`dnf ARGS` in the sandbox; `network` defaults to: when a repository is remote."""
        argv = [
            str(DNF),
            *plugins,
            "-y",
            f"--installroot={self.root}",
            f"--releasever={self.releasever}",
            f"--setopt=reposdir={self.reposdir}",
            f"--setopt=cachedir={self.root}/var/cache/dnf",
            "--setopt=install_weak_deps=0",
            *args,
        ]
        return self._sandboxed(argv, f"dnf {' '.join(args[:1])}", network)

    def installed(self) -> set[str]:
        """The NEVRAs (`name-epoch:version-release.arch`, epoch 0 written) the root's rpmdb holds, as rpm
        itself lists them: what dnf says it installed is not taken on its word."""
        query = "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n"
        done = self._sandboxed(["/usr/bin/rpm", f"--root={self.root}", "-qa", "--qf", query], "rpm -qa", False)
        if done.returncode != 0:
            raise ToolError(f"rpm -qa in {self.root} failed: {done.output.strip()[-300:]}")
        return {line.strip() for line in done.output.splitlines() if line.strip()}

    def run_installed(self, argv: Sequence[str], what: str) -> DnfResult:
        """A program installed in the root, run there (chroot) in the sandbox, without network: package code
        runs as root of the sandbox's user namespace, nobody of the host."""
        return self._sandboxed([CHROOT, str(self.root), *argv], what, False)

    def _sandboxed(self, argv: list[str], what: str, network: bool | None) -> DnfResult:
        paths, remote = self._repositories()
        inside = [p for p in (self.reposdir, *paths, *self.more_readonly) if not p.is_relative_to(self.root)]
        readonly = list(dict.fromkeys(inside))
        give_to_sandbox(self.root, tree=True, installation=True)  # what the host wrote into it too
        with mapped_userns() as userns:
            box = Sandbox(
                readonly=readonly,
                writable=[self.root],
                limits=self.limits,
                network=remote if network is None else network,
                userns=userns,
                etc=_DNF_ETC,
                # Debian's rpm keeps its database at ~/.rpmdb: root's, in the installroot, as for `rpm --root`
                env={"HOME": "/root"},
            )
            try:
                # one dnf command is bounded as one build is: the layout's [sandbox] build_seconds
                done = box.run(argv, "dnf", self.limits.build_seconds)
            except SandboxLimitError as exc:
                raise ToolError(f"{what}: {exc}", argv) from exc
        return DnfResult(done.returncode, done.stdout + done.stderr)

    def install(self, names: Sequence[str], *options: str) -> DnfResult:
        """Every package downloaded (with the network a remote repository needs, no package code runs), then
        installed from the cache without network: scriptlets on, as a host runs them."""
        fetched = self.run(*options, "install", "--downloadonly", *names)
        if fetched.returncode != 0:
            return fetched
        return self.run(*options, "--cacheonly", "install", *names, network=False)
