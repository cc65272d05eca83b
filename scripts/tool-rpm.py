#!/usr/bin/env python3
"""The tool's own RPM, built by the tool (`make rpm`; tests/integration/test_tool_rpm.py):

1. the wheels packaging/vendor-*.txt pin, downloaded and checked by their SHA-256 (pip --require-hashes),
   packed into one deterministic tar whose SHA-512 packaging/sources names (the fedpkg shape);
2. that tar in a lookaside cache of WORK, as fedpkg lays one out;
3. a layout kept outside the checkout (WORK/config/repo-layout/altai.toml) naming this repository at HEAD,
   packaging/altai-release-tools.spec and that lookaside;
4. `tools/build.py --all --builder mock` on it: the RPM in WORK/out/tools, signed with the development key.

usage: scripts/tool-rpm.py [WORK]   (default .venv/tool-rpm; prints the RPM's path)
       scripts/tool-rpm.py --update-sources   (after a change of the pins: writes packaging/sources)"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
NAME = "altai-release-tools"
PINS = {"runtime": ROOT / "packaging" / "vendor-runtime.txt", "build": ROOT / "packaging" / "vendor-build.txt"}
SOURCES = ROOT / "packaging" / "sources"
DOWNLOAD_SECONDS = 900  # the wheels of one pins file (about 20 MB)


def version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def vendor_tar(target: Path) -> Path:
    """The wheels, each checked by its pinned hash, in a tar that is the same bytes wherever it is made."""
    tar = target / f"{NAME}-vendor-{version()}.tar"
    with tempfile.TemporaryDirectory() as scratch:
        for part, pins in PINS.items():
            argv = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps"]
            try:
                done = subprocess.run(  # noqa: S603 - an argv list, no shell
                    [*argv, "--require-hashes", "-r", str(pins), "-d", f"{scratch}/{part}"],
                    check=False,
                    timeout=DOWNLOAD_SECONDS,
                )
            except subprocess.TimeoutExpired:
                fail(f"{pins.relative_to(ROOT)}: pip download took more than {DOWNLOAD_SECONDS} s")
            if done.returncode != 0:
                fail(f"{pins.relative_to(ROOT)}: pip download failed (exit {done.returncode})")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tar, "w", format=tarfile.GNU_FORMAT) as out:
            for path in sorted(Path(scratch).rglob("*")):
                if path.is_file():
                    info = tarfile.TarInfo(path.relative_to(scratch).as_posix())
                    info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
                    with path.open("rb") as data:
                        out.addfile(info, data)
    return tar


def sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sources_line(tar: Path) -> str:
    return f"SHA512 ({tar.name}) = {sha512(tar)}\n"


def lookaside(tar: Path, work: Path) -> Path:
    said = SOURCES.read_text() if SOURCES.is_file() else ""
    if sources_line(tar) != said:
        fail(
            f"{tar.name}: its SHA-512 is not the one packaging/sources names; after a change of the pins, run "
            "scripts/tool-rpm.py --update-sources"
        )
    cache = work / "lookaside"
    place = cache / NAME / tar.name / "sha512" / sha512(tar) / tar.name
    place.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tar, place)
    return cache


def layout(work: Path, cache: Path) -> Path:
    config = work / "config" / "repo-layout"
    config.mkdir(parents=True, exist_ok=True)
    file = config / "altai.toml"
    file.write_text(f"""\
# the tool's own package, built by the tool (scripts/tool-rpm.py writes this)
[release]
name = "altai-release-tools"
version = "{version()}"
dist = ".host"
mock_chroot = "epel-6-x86_64"
templates = {json.dumps(str(ROOT / "repo-layout" / "templates"))}
lookaside = {json.dumps(cache.as_uri())}

[buildroot]
base = "host"

# what the tool's %check and createrepo_c's wheel need beyond the base: this host's own
[buildroot.host_packages]
"libglib2.0-0" = "glib2"
git = ["git", "git-core"]
gpg = "gnupg2"
gpgv = "gpgv"
gpg-agent = "gpg-agent"
gpgconf = "gpgconf"

[keys.tools]
id = "Altai Release Tools <release@altai.example>"
development = true

[repositories.tools]
path = "tools"
signed_by = "tools"
content = "own"
sources = "tools-srpms"

[repositories.tools-srpms]
path = "tools/SRPMS"
signed_by = "tools"
content = "sources"

[packages.{NAME}]
git = {json.dumps(str(ROOT))}
ref = "HEAD"
spec = "packaging/{NAME}.spec"
repository = "tools"
""")
    return file


def main(argv: list[str]) -> int:
    if argv == ["--update-sources"]:
        with tempfile.TemporaryDirectory() as scratch:
            SOURCES.write_text(sources_line(vendor_tar(Path(scratch))))
        print(SOURCES)
        return 0
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    work = Path(argv[0] if argv else ROOT / ".venv" / "tool-rpm").absolute()
    cache = lookaside(vendor_tar(work / "vendor"), work)
    config = layout(work, cache)
    build = [sys.executable, str(ROOT / "tools" / "build.py"), "--layout", str(config), "--out", str(work / "out")]
    done = subprocess.run([*build, "--all", "--builder", "mock", "-q"], check=False)  # noqa: S603 - an argv list
    if done.returncode != 0:
        return done.returncode
    made = sorted((work / "out" / "tools").glob(f"{NAME}-{version()}-*.rpm"))
    if len(made) != 1:
        fail(f"{work / 'out' / 'tools'}: expected one {NAME}-{version()} RPM, found {len(made)}")
    print(made[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
