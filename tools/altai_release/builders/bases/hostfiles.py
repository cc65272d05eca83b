"""The files of this host's own packages that a build root made from them needs: what `dpkg -L` lists of
each package, without documentation, manual pages, locales or the host's service files, every path put
where a usr-merged system keeps it (`/bin/bash` is `/usr/bin/bash`), every link followed to its end
(Debian's alternatives among them), and the shared libraries every program loads (`ldd`, on the host's own
programs only). Nothing here is package code of a release: the host's files are read, never run but by
ldd's loader on the host's own programs."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from altai_release.core import runner
from altai_release.core.errors import BuildError

# what a build root never needs: documentation, manuals, translations, the host's services and logins
_LEFT_OUT = re.compile(
    r"^/usr/share/(doc|man|info|locale|lintian|bug|bash-completion|zsh|fish|gnome|menu|pixmaps|applications)/"
    r"|^/(etc|usr/lib)/(systemd|cron\.[a-z]+|pam\.d|init\.d|logrotate\.d|security|update-motd\.d)/"
    r"|^/usr/lib/x86_64-linux-gnu/gconv/(?!gconv-modules)"
)
_USR_MERGED = {"/bin": "/usr/bin", "/sbin": "/usr/sbin", "/lib": "/usr/lib", "/lib64": "/usr/lib64"}
_LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")
MAX_LINK_HOPS = 16


def canonical(path: str) -> str:
    """Where a usr-merged host keeps `path`: its directory resolved, its own name kept (a link stays one)."""
    head, name = os.path.split(path)
    for old, new in _USR_MERGED.items():
        if head == old or head.startswith(old + "/"):
            head = new + head[len(old) :]
    return os.path.join(os.path.realpath(head), name)


def package_paths(packages: Iterable[str]) -> list[str]:
    """The regular files and links `dpkg -L` lists for the packages (directories come with their files)."""
    listing = runner.run(["dpkg-query", "-L", "--", *packages], BuildError, "dpkg-query -L").stdout
    found = []
    for line in runner.text(listing).splitlines():
        path = canonical(line.strip()) if line.startswith("/") else ""
        if path and not _LEFT_OUT.search(path) and (os.path.islink(path) or os.path.isfile(path)):
            found.append(path)
    return sorted(set(found))


def not_installed(packages: Sequence[str]) -> list[str]:
    """Those of the Debian packages this host does not have installed."""
    proc = runner.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", "--", *packages],
        BuildError,
        "dpkg-query -W",
        check=False,
    )
    installed = {line.split()[0] for line in runner.text(proc.stdout).splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def with_links_and_libraries(paths: Iterable[str]) -> set[str]:
    """The paths, every link's target chain, and the shared libraries of every ELF file among them."""
    found: set[str] = set()
    pending = list(paths)
    while pending:
        elves = []
        for path in pending:
            for hop in _link_chain(path):
                if os.path.isdir(hop) and not os.path.islink(hop):
                    break  # a link to a directory: the directory comes with its files
                if hop not in found:
                    found.add(hop)
                    if not os.path.islink(hop) and _is_elf(hop):
                        elves.append(hop)
        pending = [lib for lib in _libraries(elves) if lib not in found]
    return found


def _link_chain(path: str) -> list[str]:
    chain = [path]
    for _ in range(MAX_LINK_HOPS):
        if not os.path.islink(chain[-1]):
            return chain
        target = os.readlink(chain[-1])
        chain.append(canonical(os.path.normpath(os.path.join(os.path.dirname(chain[-1]), target))))
    raise BuildError(f"{path}: a chain of more than {MAX_LINK_HOPS} links")


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _libraries(elves: list[str]) -> list[str]:
    """The shared libraries the host's loader maps for these programs and libraries (ldd)."""
    libs: set[str] = set()
    for start in range(0, len(elves), 200):
        done = subprocess.run(  # noqa: S603 - the host's own programs, an argv list
            ["ldd", *elves[start : start + 200]], capture_output=True, text=True, env={"LC_ALL": "C"}, check=False
        )
        for match in _LDD_LINE.finditer(done.stdout):
            if os.path.exists(match.group(1)):
                libs.add(canonical(match.group(1)))
    return sorted(libs)


def tree_digest(top: Path) -> str:
    """A digest of what the tree at `top` holds: the names (relative to it), modes, link targets and contents."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(top.rglob("*")):
        info = os.lstat(path)
        digest.update(f"{path.relative_to(top)}\0{info.st_mode:o}\0".encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        elif path.is_file():
            with open(path, "rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def host_state() -> str:
    """Every package of the host with its version: what the host-derived base is made from changes only
    when this does."""
    listing = runner.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version} ${Architecture}\\n"], BuildError, "dpkg-query -W"
    ).stdout
    return runner.text(listing)


def file_list(stage: Path) -> str:
    """rpm's %files of every directory, file and link under `stage` (names quoted: `[` is coreutils' own)."""
    lines = []
    for top, dirs, files in os.walk(stage):
        links = [d for d in dirs if Path(top, d).is_symlink()]  # os.walk shows a link to a directory as one
        dirs[:] = sorted(d for d in dirs if d not in links)
        lines += [f"%dir {_quoted(Path(top, name), stage)}" for name in dirs]
        lines += [_quoted(Path(top, name), stage) for name in sorted(files + links)]
    return "\n".join(lines) + "\n"


def _quoted(path: Path, stage: Path) -> str:
    rel = "/" + str(path.relative_to(stage))
    if any(c in rel for c in '"\\\n'):
        raise BuildError(f"{rel}: a host file name the base's file list cannot hold")
    return '"' + rel.replace("%", "%%") + '"'
