"""git2srpm against tito (`tito build --srpm --test`) and the floor (`git archive | gzip -n` +
`rpmbuild -bs`) on the same small repository, in the same run."""

from __future__ import annotations

import shutil
import sys
import tempfile
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


def main(repeats: int = 10) -> list[Timing]:
    with tempfile.TemporaryDirectory(prefix="bench-git2srpm-") as tmp_name:
        tmp = Path(tmp_name)
        repo = make_repo(tmp)
        out = tmp / "out"
        tito = shutil.which("tito", path=str(Path(sys.executable).parent)) or "tito"
        ours = median_time(
            "git2srpm --snapshot",
            [sys.executable, str(TOOLS / "git2srpm.py"), "--snapshot", "--outdir", str(out), str(repo)],
            repeats,
            reset=fresh_dir(out),
        )
        peer = median_time(
            "tito build --srpm --test",
            [tito, "build", "--srpm", "--test", "-o", str(out)],
            repeats,
            cwd=repo,
            reset=fresh_dir(out),
        )
        top = tmp / "floor"
        floor_script = (
            f"git archive --prefix=benchpkg-1.0/ HEAD | gzip -n > {top}/SOURCES/benchpkg-1.0.tar.gz && "
            f"rpmbuild --quiet -bs --nodeps --define '_topdir {top}' benchpkg.spec"
        )

        def reset_floor() -> None:
            fresh_dir(top)()
            (top / "SOURCES").mkdir()

        floor = median_time(
            "floor: git archive | gzip + rpmbuild -bs", ["sh", "-c", floor_script], repeats, cwd=repo, reset=reset_floor
        )
        rows = [ours, peer, floor]
        print_table(f"git2srpm, small package (40 files), median of {repeats}", rows, peer)
        print(f"{'':<44} {'':>12} {'ratio to floor':>24}")
        print(f"{ours.name:<44} {'':>12} {ours.seconds / floor.seconds:>23.2f}x")
        return rows


if __name__ == "__main__":
    main()
