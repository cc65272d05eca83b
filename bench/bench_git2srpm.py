"""git2srpm against tito (`tito build --srpm --test`) and the same-work floor (`git archive | gzip -n`, then
`rpmbuild -bs` inside bubblewrap without capabilities or network: the sandbox is required work, so the floor
does it too) on the same repositories, in the same run: a small package (40 files, one commit, spec at the
root), one of 180 files and 2,000 commits with the spec in a subdirectory, and the shape of a real public
monorepo (mock's: ~900 files, a few thousand commits, the package's 147 files and spec in a subdirectory)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import TOOLS, Timing, fresh_dir, median_time, print_table, run

SPEC = """\
Name: benchpkg
Version: 1.0
Release: 1%{?dist}
Summary: Benchmark package
License: MIT
Source0: %{name}-%{version}.tar.gz
BuildArch: noarch
%description
Benchmark.
%prep
%setup -q
%install
mkdir -p %{buildroot}/usr/share/benchpkg
cp -a . %{buildroot}/usr/share/benchpkg/
%files
/usr/share/benchpkg
%changelog
* Mon Jan 01 2024 Bench <bench@example.com> - 1.0-1
- first
"""


def make_repo(root: Path) -> Path:
    repo = root / "benchpkg"
    (repo / "benchpkg").mkdir(parents=True)
    (repo / "benchpkg.spec").write_text(SPEC)
    for i in range(40):  # a small package: 40 modules of ~2 KiB
        (repo / "benchpkg" / f"mod{i:02d}.py").write_text(f"VALUE_{i} = {i}\n" * 120)
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "initial"], cwd=repo)
    tito = shutil.which("tito", path=str(Path(sys.executable).parent)) or "tito"
    run([tito, "init"], cwd=repo)  # tito needs its .tito/ directory; it commits it itself
    return repo


def _fast_import(repo: Path, spec_path: str, paths: list[str], commits: int, body: Callable[[int, int], str]) -> Path:
    """A repository of `paths` (and the spec at `spec_path`) made with git fast-import: the first commit adds
    every file, each later one changes one of them (`body(file, commit)` is its content); then `tito init`."""
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    stream = []
    for n in range(commits):
        changed = range(len(paths)) if n == 0 else [(n * 7919) % len(paths)]
        message = f"change {n}"
        parent = "" if n == 0 else f"from :{n}\n"
        committer = f"committer Bench <bench@example.com> {1700000000 + n * 60} +0000"
        stream.append(f"commit refs/heads/main\nmark :{n + 1}\n{committer}\ndata {len(message)}\n{message}\n{parent}")
        if n == 0:
            stream.append(f"M 100644 inline {spec_path}\ndata {len(SPEC.encode())}\n{SPEC}\n")
        for i in changed:
            text = body(i, n)
            stream.append(f"M 100644 inline {paths[i]}\ndata {len(text.encode())}\n{text}\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input="".join(stream), text=True, check=True)
    run(["git", "checkout", "-q", "main"], cwd=repo)
    tito = shutil.which("tito", path=str(Path(sys.executable).parent)) or "tito"
    run([tito, "init"], cwd=repo)
    return repo


def make_large_repo(root: Path, files: int = 180, commits: int = 2000) -> Path:
    """`files` files under pkg/ (the spec among them) and `commits` commits."""
    paths = [f"pkg/src/mod{i:03d}.py" for i in range(files)]
    return _fast_import(root / "large", "pkg/benchpkg.spec", paths, commits, lambda i, n: f"VALUE_{i} = {n}\n" * 40)


def make_monorepo(root: Path, files: int = 880, package_files: int = 147, commits: int = 3000) -> Path:
    """mock's repository shape: `package_files` of the files (the spec among them) under mock/, the rest in
    sibling directories, and `commits` commits each touching a file somewhere."""
    paths = [f"mock/py/mockbuild/mod{i:03d}.py" for i in range(package_files - 1)]
    paths += [
        f"{('mock-core-configs', 'docs', 'releng', 'behave')[i % 4]}/part{i:03d}/file{i:04d}.cfg"
        for i in range(files - package_files)
    ]

    def body(i: int, n: int) -> str:
        return f"# {paths[i]} at change {n}\n" + "value = compute(value, 1)  # a line of code\n" * (130 + i % 40)

    return _fast_import(root / "monorepo", "mock/mock.spec", paths, commits, body)


def measure(label: str, repo: Path, package: Path, tmp: Path, repeats: int, subdir: str | None) -> list[Timing]:
    out = tmp / "out"
    tito = shutil.which("tito", path=str(Path(sys.executable).parent)) or "tito"
    where = ["--subdir", subdir] if subdir else []
    ours_argv = [sys.executable, str(TOOLS / "git2srpm.py"), "--snapshot", *where, "--outdir", str(out), str(repo)]
    ours = median_time("git2srpm --snapshot", ours_argv, repeats, reset=fresh_dir(out))
    ours_srpm = next(out.glob("*.src.rpm"))
    ours_srpm = ours_srpm.rename(tmp / ours_srpm.name)
    peer = median_time(
        "tito build --srpm --test",
        [tito, "build", "--srpm", "--test", "-o", str(out)],
        repeats,
        cwd=package,
        reset=fresh_dir(out),
    )
    top = tmp / "floor"
    tree = f"HEAD:{subdir}" if subdir else "HEAD"
    spec = next(package.glob("*.spec")).name
    # the same work: the archive, then the spec read and the SRPM made in a sandbox without capabilities or
    # network (bubblewrap, as ours), but none of our checks, limits, cgroups or result handling
    sandbox = (
        f"bwrap --unshare-all --cap-drop ALL --die-with-parent --ro-bind / / --dev /dev --proc /proc "
        f"--bind {top} {top} --chdir {package}"
    )
    # `git -C <repo>`: from the package's subdirectory, `git archive HEAD:<subdir>` refuses ("current working
    # directory is untracked"); pipefail so that such a refusal is not timed as an empty tarball
    floor_script = (
        f"set -o pipefail; git -C {repo} archive --prefix=benchpkg-1.0/ {tree} | gzip -n "
        f"> {top}/SOURCES/benchpkg-1.0.tar.gz && "
        f"{sandbox} rpmbuild --quiet -bs --nodeps --define '_topdir {top}' {spec}"
    )

    def reset_floor() -> None:
        fresh_dir(top)()
        (top / "SOURCES").mkdir()

    floor = median_time(
        "floor: git archive | gzip + bwrap rpmbuild -bs",
        ["bash", "-c", floor_script],
        repeats,
        cwd=package,
        reset=reset_floor,
    )
    same_work(ours_srpm, next((top / "SRPMS").glob("*.src.rpm")))
    ours_srpm.unlink()
    rows = [ours, peer, floor]
    print_table(f"git2srpm, {label}, median of {repeats}", rows, peer)
    print(f"{'':<44} {'':>12} {'ratio to floor':>24}")
    print(f"{ours.name:<44} {'':>12} {ours.seconds / floor.seconds:>23.2f}x")
    return rows


def same_work(ours: Path, floor: Path) -> None:
    """The floor times the same work only if its tarball holds what ours does."""
    names = [tarball_names(srpm) for srpm in (ours, floor)]
    if names[0] != names[1] or len(names[0]) < 2:
        raise SystemExit(f"bench: the floor's tarball ({len(names[1])} members) is not ours ({len(names[0])})")


def tarball_names(srpm: Path) -> list[str]:
    listing = subprocess.run(
        ["sh", "-c", 'rpm2cpio "$1" | cpio -i --quiet --to-stdout "*.tar.gz" | tar -tz', "sh", str(srpm)],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(name.rstrip("/") for name in listing.stdout.split())


def main(repeats: int = 10) -> list[Timing]:
    with tempfile.TemporaryDirectory(prefix="bench-git2srpm-") as tmp_name:
        tmp = Path(tmp_name)
        small = make_repo(tmp)
        rows = measure("small package (40 files)", small, small, tmp, repeats, None)
        large = make_large_repo(tmp)
        rows += measure("180 files, 2,000 commits, spec in pkg/", large, large / "pkg", tmp, repeats, "pkg")
        mono = make_monorepo(tmp)
        rows += measure(
            "mock's shape: 880 files, 3,000 commits, spec in mock/", mono, mono / "mock", tmp, repeats, "mock"
        )
        return rows


if __name__ == "__main__":
    main()
