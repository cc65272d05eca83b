"""git2srpm end to end: real git repositories, real rpmbuild in the sandbox, SRPMs read back with the rpm
bindings and `rpm -qpl`."""

from __future__ import annotations

import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import rpm
from altai_testlib import GitRepo, assert_one_line_error, built, run_tool, spec


def header(path: Path) -> rpm.hdr:
    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES)
    with open(path, "rb") as fd:
        return ts.hdrFromFdno(fd.fileno())


def qpl(path: Path) -> list[str]:
    listing = subprocess.run(["rpm", "-qpl", str(path)], capture_output=True, text=True, check=True)
    return listing.stdout.split()


def git2srpm(repo: GitRepo, outdir: Path, *args: str):
    return run_tool("git2srpm.py", "--outdir", str(outdir), *args, str(repo.path))


def tar_members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def test_spec_at_root(make_repo, tmp_path):
    repo = make_repo({"hello.spec": spec(), "main.py": "print('hi')\n", "lib/util.py": "X = 1\n"})
    srpm = built(git2srpm(repo, tmp_path / "out"))
    hdr = header(srpm)
    assert (hdr["name"], hdr["version"], hdr["release"]) == ("hello", "1.0", "1")
    assert hdr[rpm.RPMTAG_SOURCEPACKAGE] == 1
    assert sorted(qpl(srpm)) == ["hello-1.0.tar.gz", "hello.spec"]
    tarball = tmp_path / "out" / "hello-1.0.tar.gz"
    names = [m.name for m in tar_members(tarball)]
    assert names == ["hello-1.0", "hello-1.0/hello.spec", "hello-1.0/lib", "hello-1.0/lib/util.py", "hello-1.0/main.py"]


def test_spec_outside_subdir_and_tar_metadata(make_repo, tmp_path):
    repo = make_repo(
        {
            "specs/tool.spec": spec(name="tool", version="2.3"),
            "src/tool/run.sh": "#!/bin/sh\necho run\n",
            "src/tool/data/a.txt": "a\n",
            "src/other/ignored.txt": "not packed\n",
        }
    )
    (repo.path / "src/tool/run.sh").chmod(0o755)
    (repo.path / "src/tool/link").symlink_to("run.sh")
    repo.commit({}, "exec bit and symlink")
    commit_time = int(repo.git("log", "-1", "--format=%ct"))
    srpm = built(git2srpm(repo, tmp_path / "out", "--subdir", "src/tool", "--spec", "specs/tool.spec"))
    assert sorted(qpl(srpm)) == ["tool-2.3.tar.gz", "tool.spec"]
    members = {m.name: m for m in tar_members(tmp_path / "out" / "tool-2.3.tar.gz")}
    assert sorted(members) == ["tool-2.3", "tool-2.3/data", "tool-2.3/data/a.txt", "tool-2.3/link", "tool-2.3/run.sh"]
    assert all(m.mtime == commit_time and m.uid == 0 and m.gid == 0 and m.uname == "root" for m in members.values())
    assert members["tool-2.3/run.sh"].mode == 0o755
    assert members["tool-2.3/data/a.txt"].mode == 0o644
    assert members["tool-2.3/link"].issym()
    assert members["tool-2.3/link"].linkname == "run.sh"


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.bz2", ".tar.xz"])
def test_source0_url_and_compression(make_repo, tmp_path, suffix):
    url = f"https://downloads.example.com/releases/%{{name}}/%{{name}}-%{{version}}{suffix}"
    repo = make_repo({"hello.spec": spec(source0=url), "a.txt": "a\n"})
    srpm = built(git2srpm(repo, tmp_path / "out"))
    assert f"hello-1.0{suffix}" in qpl(srpm)
    tarball = tmp_path / "out" / f"hello-1.0{suffix}"
    magic = tarball.read_bytes()[:6]
    expected = {".tar.gz": b"\x1f\x8b", ".tar.bz2": b"BZh", ".tar.xz": b"\xfd7zXZ"}[suffix]
    assert magic.startswith(expected)
    assert "hello-1.0/a.txt" in [m.name for m in tar_members(tarball)]


def test_extra_sources_and_patches_come_from_next_to_the_spec(make_repo, tmp_path):
    extra = "Source1: hello.conf\nSource2: https://example.com/files/README.extra\nPatch0: fix-it.patch\n"
    repo = make_repo(
        {
            "packaging/hello.spec": spec(extra=extra),
            "packaging/hello.conf": "key = value\n",
            "packaging/README.extra": "readme\n",
            "packaging/fix-it.patch": "--- a\n+++ b\n",
            "code/x.py": "x = 1\n",
        }
    )
    srpm = built(git2srpm(repo, tmp_path / "out", "--subdir", "code", "--spec", "packaging/hello.spec"))
    assert sorted(qpl(srpm)) == ["README.extra", "fix-it.patch", "hello-1.0.tar.gz", "hello.conf", "hello.spec"]


def test_macros_epoch_subpackages_and_nonascii_changelog(make_repo, tmp_path):
    text = (
        spec(name="%{srcname}-tools", version="%{major}.%{minor}")
        .replace("Name:", "%global srcname altai\n%global major 3\n%global minor 14\nEpoch: 7\nName:", 1)
        .replace(
            "%description\nA test package.",
            "%description\nA test package.\n\n%package extras\n"
            "Summary: Extras\nRequires: %{name} = %{epoch}:%{version}-%{release}\n%description extras\n"
            "Extras.\n\n%files extras\n%doc\n",
            1,
        )
        .replace("- first", "- Überprüfung der Größe — 完成 ✓")
    )
    repo = make_repo({"altai.spec": text, "f": "f\n"})
    srpm = built(git2srpm(repo, tmp_path / "out"))
    hdr = header(srpm)
    assert (hdr["name"], hdr["epoch"], hdr["version"]) == ("altai-tools", 7, "3.14")
    assert srpm.name == "altai-tools-3.14-1.src.rpm"
    assert "altai-tools-3.14.tar.gz" in qpl(srpm)
    assert "Größe — 完成 ✓" in hdr["changelogtext"][0]


def test_dist_tag(make_repo, tmp_path):
    repo = make_repo({"hello.spec": spec(), "f": "f\n"})
    assert built(git2srpm(repo, tmp_path / "a", "--dist", ".el6")).name == "hello-1.0-1.el6.src.rpm"
    assert built(git2srpm(repo, tmp_path / "b")).name == "hello-1.0-1.src.rpm"


def test_reproducible_bytes_across_runs_and_clones(make_repo, tmp_path):
    repo = make_repo({"hello.spec": spec(extra="Source1: hello.conf"), "hello.conf": "c\n", "x/y": "y\n"})
    first = built(git2srpm(repo, tmp_path / "one", "--dist", ".el6"))
    time.sleep(1.1)  # a different wall clock must not change a byte
    second = built(git2srpm(repo, tmp_path / "two", "--dist", ".el6"))
    url = f"file://{repo.path}"
    third = built(run_tool("git2srpm.py", "--outdir", str(tmp_path / "three"), "--dist", ".el6", url))
    assert first.read_bytes() == second.read_bytes() == third.read_bytes()
    tarballs = [(d / "hello-1.0.tar.gz").read_bytes() for d in (tmp_path / "one", tmp_path / "two")]
    assert tarballs[0] == tarballs[1]
    hdr = header(first)
    assert hdr["buildhost"] == "altai-build"
    assert hdr["buildtime"] == int(repo.git("log", "-1", "--format=%ct"))


def test_snapshot_release_orders_after_base_and_previous_snapshot(make_repo, tmp_path):
    repo = make_repo({"hello.spec": spec(), "f": "1\n"})
    for n in range(2, 10):  # nine commits, so that the count crosses a digit boundary next
        repo.commit({"f": f"{n}\n"})
    base = header(built(git2srpm(repo, tmp_path / "base", "--dist", ".el6")))
    snap9 = header(built(git2srpm(repo, tmp_path / "s9", "--dist", ".el6", "--snapshot")))
    head = repo.git("rev-parse", "--short=7", "HEAD")
    assert snap9["release"] == f"1.git.9.{head}.el6"
    repo.commit({"f": "10\n"})
    snap10 = header(built(git2srpm(repo, tmp_path / "s10", "--dist", ".el6", "--snapshot")))

    def evr(h):
        return (str(h["epoch"] or 0), h["version"], h["release"])

    assert rpm.labelCompare(evr(snap9), evr(base)) == 1
    assert rpm.labelCompare(evr(snap10), evr(snap9)) == 1
    assert rpm.labelCompare(evr(base), evr(snap10)) == -1


def test_tag_ref_and_older_commit(make_repo, tmp_path):
    repo = make_repo({"hello.spec": spec(version="1.0"), "f": "f\n"})
    repo.git("tag", "-a", "v1.0", "-m", "release 1.0")
    repo.commit({"hello.spec": spec(version="2.0")})
    assert built(git2srpm(repo, tmp_path / "a", "--ref", "v1.0")).name == "hello-1.0-1.src.rpm"
    assert built(git2srpm(repo, tmp_path / "b")).name == "hello-2.0-1.src.rpm"


def test_dirty_tree_warns_and_builds_the_commit(make_repo, tmp_path):
    repo = make_repo({"hello.spec": spec(), "f": "committed\n"})
    repo.write({"f": "uncommitted\n"})
    run = git2srpm(repo, tmp_path / "out")
    built(run)
    assert "warning:" in run.stderr
    assert "uncommitted" in run.stderr
    with tarfile.open(tmp_path / "out" / "hello-1.0.tar.gz") as tar:
        member = tar.extractfile("hello-1.0/f")
        assert member is not None
        assert member.read() == b"committed\n"


def test_spec_shell_runs_in_a_sandbox(make_repo, tmp_path):
    marker = tmp_path / "escaped"
    version = (
        f"%(touch {marker} 2>/dev/null; grep -c : /proc/net/dev)"
        ".%(test -e /etc/shadow && echo 0 || echo 1).%(hostname | tr -d -)"
    )
    repo = make_repo({"hello.spec": spec(version=version, source0="hello.tar.gz"), "f": "f\n"})
    srpm = built(git2srpm(repo, tmp_path / "out"))
    # only the loopback interface, no /etc/shadow, the fixed build host, and nothing written outside
    assert header(srpm)["version"] == "1.1.altaibuild"
    assert not marker.exists()


def _outdir_untouched(outdir: Path) -> None:
    assert sorted(p.name for p in outdir.iterdir()) == ["keep.txt"]


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous content\n")
    return out


def test_error_not_a_git_repo(tmp_path, outdir):
    plain = tmp_path / "plain"
    plain.mkdir()
    run = run_tool("git2srpm.py", "--outdir", str(outdir), str(plain))
    assert_one_line_error(run, str(plain), "not a git repository")
    _outdir_untouched(outdir)


def test_a_sha256_repository_is_refused_by_name_local_or_cloned(tmp_path, outdir):
    """It failed with "commit … has no tree line": the reader knows SHA-1 ids only."""
    repo = tmp_path / "sha256"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", "--object-format=sha256", str(repo)], check=True)
    (repo / "p.spec").write_text(spec("p"))
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    for location in (str(repo), repo.as_uri()):
        run = run_tool("git2srpm.py", "--outdir", str(outdir), location)
        assert_one_line_error(run, location, "object format 'sha256'", "only SHA-1 repositories are read")
    _outdir_untouched(outdir)


def test_error_missing_repo_and_bad_url(tmp_path, outdir):
    assert_one_line_error(run_tool("git2srpm.py", "--outdir", str(outdir), str(tmp_path / "nope")), "nope")
    run = run_tool("git2srpm.py", "--outdir", str(outdir), f"file://{tmp_path}/nope.git")
    assert_one_line_error(run, "nope.git", "cannot clone")
    _outdir_untouched(outdir)


def test_error_unknown_ref(make_repo, outdir):
    repo = make_repo({"hello.spec": spec(), "f": "f\n"})
    assert_one_line_error(git2srpm(repo, outdir, "--ref", "no-such-branch"), "no-such-branch")
    _outdir_untouched(outdir)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--ref", "--upload-pack=touch /tmp/x"),
        ("--subdir", "-rf"),
        ("--spec", "--eval=%(id)"),
        ("--subdir", "../outside"),
        ("--spec", "/etc/passwd"),
    ],
)
def test_error_option_like_or_escaping_paths(make_repo, outdir, option, value):
    repo = make_repo({"hello.spec": spec(), "f": "f\n"})
    run = git2srpm(repo, outdir, f"{option}={value}")
    assert_one_line_error(run, repr(value))
    _outdir_untouched(outdir)


def test_error_repo_that_looks_like_an_option(outdir):
    run = run_tool("git2srpm.py", "--outdir", str(outdir), "--", "--config=core.sshCommand=touch /tmp/x")
    assert_one_line_error(run, "looks like a command-line option")


def test_error_no_spec(make_repo, outdir):
    repo = make_repo({"README": "no spec here\n"})
    assert_one_line_error(git2srpm(repo, outdir), "no *.spec file")
    _outdir_untouched(outdir)


def test_error_several_specs_lists_them(make_repo, outdir):
    repo = make_repo({"a.spec": spec(name="a"), "b.spec": spec(name="b")})
    assert_one_line_error(git2srpm(repo, outdir), "a.spec", "b.spec", "--spec")
    _outdir_untouched(outdir)


def test_error_spec_that_does_not_parse(make_repo, outdir):
    repo = make_repo({"broken.spec": "Name: broken\nVersion: 1\n%description\nno release, no summary\n"})
    run = git2srpm(repo, outdir)
    assert_one_line_error(run, "broken.spec", "does not parse")
    assert run.returncode == 2  # the spec is bad input, as a bad ref is
    _outdir_untouched(outdir)


def test_a_spec_without_source0_or_with_an_illegal_name_is_bad_input(make_repo, outdir):
    for name, text in (
        ("nosource.spec", spec().replace("Source0:", "#Source0:")),
        ("illegal.spec", spec().replace("Name:", "Name: a/b\n#")),
    ):
        run = git2srpm(make_repo({name: text, "f": "f\n"}), outdir)
        assert run.returncode == 2, run.stderr
        assert name in run.stderr
    _outdir_untouched(outdir)


def test_error_missing_extra_source(make_repo, outdir):
    repo = make_repo({"hello.spec": spec(extra="Source1: missing.conf\nPatch3: gone.patch"), "f": "f\n"})
    assert_one_line_error(git2srpm(repo, outdir), "missing.conf", "Source1", "hello.spec")
    _outdir_untouched(outdir)


def test_error_unsupported_source0_suffix(make_repo, outdir):
    repo = make_repo({"hello.spec": spec(source0="%{name}-%{version}.zip"), "f": "f\n"})
    assert_one_line_error(git2srpm(repo, outdir), "hello-1.0.zip")
    _outdir_untouched(outdir)


def test_error_unwritable_outdir(make_repo, tmp_path):
    repo = make_repo({"hello.spec": spec(), "f": "f\n"})
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    assert_one_line_error(git2srpm(repo, a_file), str(a_file))
    assert_one_line_error(git2srpm(repo, a_file / "sub"), str(a_file / "sub"))
    assert a_file.read_text() == "x"


def test_error_rpmbuild_failure_leaves_nothing(make_repo, outdir):
    # parses, but the SRPM cannot be written: %{SOURCE1} names a file no Source tag provides
    text = spec().replace("%files", "%files -f %{SOURCE9}")
    repo = make_repo({"hello.spec": text.replace("Source0:", "Source9: absent.list\nSource0:"), "f": "f\n"})
    run = git2srpm(repo, outdir)
    assert_one_line_error(run, "absent.list")
    _outdir_untouched(outdir)


def test_commits_elsewhere_in_the_repository_do_not_change_the_package(make_repo, tmp_path):
    repo = make_repo({"specs/tool.spec": spec(name="tool"), "src/tool/a.txt": "a\n", "src/other/b.txt": "b\n"})
    args = ("--subdir", "src/tool", "--spec", "specs/tool.spec")
    first = built(git2srpm(repo, tmp_path / "one", *args)).read_bytes()
    repo.commit({"src/other/b.txt": "b2\n", "README": "news\n"})  # another package's change
    assert built(git2srpm(repo, tmp_path / "two", *args)).read_bytes() == first
    repo.commit({"src/tool/a.txt": "a2\n"})  # this package's change: its time moves with it
    changed = built(git2srpm(repo, tmp_path / "three", *args))
    assert header(changed)["buildtime"] == int(repo.git("log", "-1", "--format=%ct"))


def test_the_tarball_packed_during_the_spec_read_is_taken_only_when_right(make_repo, tmp_path):
    """The tarball is packed beside the spec's read, from the time of the tree and the spec. A Source1 beside
    the spec, changed last, moves the package's time: that tarball is dropped and packed again."""
    files = {"specs/tool.spec": spec(name="tool", extra="Source1: tool.conf\n"), "specs/tool.conf": "a\n"}
    repo = make_repo({**files, "src/tool/a.txt": "a\n"})
    args = ("-v", "--subdir", "src/tool", "--spec", "specs/tool.spec")
    taken = "the tarball packed while the spec was read is the one"
    first = git2srpm(repo, tmp_path / "one", *args)
    assert taken in first.stderr
    repo.commit({"specs/tool.conf": "b\n"})
    second = git2srpm(repo, tmp_path / "two", *args)
    assert taken not in second.stderr
    last = int(repo.git("log", "-1", "--format=%ct"))
    assert header(built(second))["buildtime"] == last
    assert {m.mtime for m in tar_members(tmp_path / "two" / "tool-1.0.tar.gz")} == {last}
