"""kojid's mock, confined as the project's own mock builder is: installed where kojid runs mock
(`/usr/bin/mock`, which kojid 1.35 hard-codes: scripts/koji/private-koji.sh overlays it in kojid's own mount
namespace), it takes the command line kojid gives mock (`-r koji/NAME [--old-chroot|--new-chroot] ARGS`)
and runs the project's mock (`mockinstall`) in `mockjail`, as root of a user namespace of unprivileged ids:
the BuildRequires' scriptlets and the package's %build never run as the host's root. What mock may touch is
kojid's own: its mock directory (`mockdir`), a mock cache beside it, the task's work directory and Koji's
`topdir` (read-only: the tag's repositories are kojid's `topurl`, on loopback: mock keeps the host's
network).

The environment says where those are: ALTAI_KOJID_MOCKDIR, ALTAI_KOJID_WORKDIR, ALTAI_KOJID_TOPDIR (kojid's
`mockdir`, `workdir` and `topdir`). kojid reads mock's exit status (10: the build failed; 1: build or root
log) and its output, which it logs as mock_output.log: both are passed through."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

CONFIGS = Path("/etc/mock/koji")  # where kojid writes the config of each build root (hard-coded in kojid)
_ROOT_NAME = re.compile(r"koji/[A-Za-z0-9_+][A-Za-z0-9._+-]*")  # kojid's TAG-BUILDROOTID-REPOID: a file name
CHROOT_TMPDIR = "chroot_tmpdir"  # kojid's `chroot_tmpdir` (its default), below the root


def translate(argv: list[str]) -> tuple[str, list[str]]:
    """(the build root's name, mock's arguments) from kojid's command line: `-r koji/NAME` becomes the config
    file itself; mock's isolation is `simple` (what the jail allows; kojid's --old-chroot says the same)."""
    if len(argv) < 2 or argv[0] != "-r" or not _ROOT_NAME.fullmatch(argv[1]):
        raise SystemExit(f"kojimock: expected kojid's '-r koji/NAME ...', got {argv[:2]!r}")
    name = argv[1][5:]
    rest = [a for a in argv[2:] if a not in ("--old-chroot", "--new-chroot")]
    return name, ["-r", str(CONFIGS / f"{name}.cfg"), "--isolation=simple", *rest]


def _with_build_time(args: list[str], config: Path) -> list[str]:
    """A rebuild of an SRPM takes its build time (SOURCE_DATE_EPOCH) from the SRPM, as the project's own
    mock builder does: binaries then carry the same times whoever builds them, and a scratch build
    reproduces a real one. A copy of kojid's config in the jail's own directory adds it."""
    from altai_release.rpm.readback import read_header

    if "--rebuild" not in args or args.index("--rebuild") + 1 >= len(args):
        return args
    build_time = int(read_header(Path(args[args.index("--rebuild") + 1]))["buildtime"])
    kojids = Path(args[1]).read_text(encoding="utf-8")
    config.write_text(
        f"{kojids}\nconfig_opts['environment']['SOURCE_DATE_EPOCH'] = {str(build_time)!r}\n", encoding="utf-8"
    )
    return [args[0], str(config), *args[2:]]


def main(argv: list[str] | None = None) -> int:
    from altai_release.builders.mockinstall import find_mock
    from altai_release.builders.mockjail import JailedRun, MockJails, dbpath_macros
    from altai_release.core.limits import SandboxLimits
    from altai_release.sandbox.scratch import give_to_sandbox

    name, args = translate(list(sys.argv[1:] if argv is None else argv))
    install = find_mock()
    if install is None:
        print("kojimock: no mock installed (scripts/setup-mock.sh)", file=sys.stderr)
        return 1
    mockdir = Path(os.environ["ALTAI_KOJID_MOCKDIR"])
    workdir = Path(os.environ["ALTAI_KOJID_WORKDIR"])
    topdir = Path(os.environ["ALTAI_KOJID_TOPDIR"])
    cache = mockdir.parent / "mock-cache"
    private = mockdir.parent / "mock-private" / name
    for directory in (mockdir, cache, private):
        directory.mkdir(parents=True, exist_ok=True)
    args = _with_build_time(args, private / f"{name}.cfg")
    jailed = JailedRun(
        install,
        ["--configdir", str(install.configdir), *args[:2], f"--config-opts=cache_topdir={cache}", *args[2:]],
        readonly=[CONFIGS, workdir, topdir, private],
        network=True,  # the tag's repositories: kojid's topurl, on loopback
        root_dirs=[mockdir, cache],  # mock removes the root's own directory when it cleans
        resultdir=None,  # mock's own, in the root's directory: kojid reads it there
        dnf_cache=private / "dnf-cache",
        macros_dir=dbpath_macros(private / "macros.d"),
        limits=SandboxLimits(),
    )
    (private / "dnf-cache").mkdir(exist_ok=True)
    handed = mockdir / name / "root" / CHROOT_TMPDIR
    if handed.is_dir() and not handed.is_symlink():
        # what kojid put into the root as the host's root (the SRPM, the directory rpm unpacks it into) is
        # nobody's in the jail: the root of the jail's namespace takes it, as mock run as root would
        give_to_sandbox(handed, tree=True, installation=True)
    done = MockJails().run(jailed, f"kojid's mock for {name}", SandboxLimits().build_seconds)
    sys.stdout.write(done.stdout + done.stderr)
    sys.stdout.flush()
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
