"""git2srpm on the spec shapes real packaging uses: sources in a dist-git lookaside (served over HTTP on
127.0.0.1, then offline from the cache), shallow CI clones, submodules, and macros the host's rpm lacks."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest
from altai_testlib import assert_one_line_error, run_tool, spec
from rpmtools import serve

DATA = b"test data that the repository does not hold\n" * 50


def srpm_files(srpm: Path) -> dict[str, bytes]:
    with open(srpm, "rb") as stdin:
        archive = subprocess.run(["rpm2archive", "-n", "-"], stdin=stdin, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {
            m.name.lstrip("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


@pytest.fixture
def lookaside(tmp_path):
    """A Fedora-shaped lookaside cache: {url}/{package}/{file}/{hashtype}/{hash}/{file}."""
    root = tmp_path / "lookaside"
    sha512 = hashlib.sha512(DATA).hexdigest()
    md5 = hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    for algo, digest in (("sha512", sha512), ("md5", md5)):
        target = root / "hello" / "testdata.tar.gz" / algo / digest / "testdata.tar.gz"
        target.parent.mkdir(parents=True)
        target.write_bytes(DATA)
    with serve(root) as url:
        yield {"url": url, "sha512": sha512, "md5": md5, "root": root}


@pytest.mark.parametrize("form", ["tagged", "old"])
def test_source_listed_in_sources_comes_from_the_lookaside_then_the_cache(make_repo, tmp_path, lookaside, form):
    line = (
        f"SHA512 (testdata.tar.gz) = {lookaside['sha512']}\n"
        if form == "tagged"
        else f"{lookaside['md5']}  testdata.tar.gz\n"
    )
    repo = make_repo({"hello.spec": spec(extra="Source1: testdata.tar.gz"), "sources": line, "a.txt": "a\n"})
    cache = tmp_path / "cache"
    first = run_tool(
        "git2srpm.py",
        "--lookaside",
        lookaside["url"],
        "--cache",
        str(cache),
        "--outdir",
        str(tmp_path / "one"),
        str(repo.path),
    )
    assert first.returncode == 0, first.stderr
    srpm = Path(first.stdout.splitlines()[-1])
    assert srpm_files(srpm)["testdata.tar.gz"] == DATA
    # the next build needs no network: the lookaside is gone, --offline reads the cache
    for path in sorted(lookaside["root"].rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    again = run_tool(
        "git2srpm.py", "--offline", "--cache", str(cache), "--outdir", str(tmp_path / "two"), str(repo.path)
    )
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.splitlines()[-1]).read_bytes() == srpm.read_bytes()  # reproducible


def test_an_old_sources_file_is_fetched_from_the_old_md5_path_too(make_repo, tmp_path, lookaside):
    """fedpkg still serves an MD5 `sources` line at {package}/{file}/{md5}/{file}: it was never tried."""
    hashtyped = lookaside["root"] / "hello" / "testdata.tar.gz" / "md5"
    old = lookaside["root"] / "hello" / "testdata.tar.gz" / lookaside["md5"]
    (hashtyped / lookaside["md5"]).rename(old)
    hashtyped.rmdir()
    line = f"{lookaside['md5']}  testdata.tar.gz\n"
    repo = make_repo({"hello.spec": spec(extra="Source1: testdata.tar.gz"), "sources": line, "a.txt": "a\n"})
    outdir = tmp_path / "out"
    argv = ["--lookaside", lookaside["url"], "--cache", str(tmp_path / "cache"), "--outdir", str(outdir)]
    run = run_tool("git2srpm.py", *argv, str(repo.path))
    assert run.returncode == 0, run.stderr
    assert srpm_files(Path(run.stdout.splitlines()[-1]))["testdata.tar.gz"] == DATA


def test_wrong_hash_and_missing_entry_are_one_line_naming_the_source(make_repo, tmp_path, lookaside):
    wrong = "0" * 128
    repo = make_repo(
        {"hello.spec": spec(extra="Source1: testdata.tar.gz"), "sources": f"SHA512 (testdata.tar.gz) = {wrong}\n"}
    )
    # the lookaside has nothing under the wrong hash: the error names the Source, the file and the URL
    run = run_tool(
        "git2srpm.py",
        "--lookaside",
        lookaside["url"],
        "--cache",
        str(tmp_path / "c"),
        "--outdir",
        str(tmp_path / "o"),
        str(repo.path),
    )
    assert_one_line_error(run, "hello.spec: Source1 testdata.tar.gz", "404")
    # the Source's own URL serves other bytes: refused as a mismatch
    (lookaside["root"] / "testdata.tar.gz").write_bytes(DATA)
    url_spec = spec(extra=f"Source1: {lookaside['url']}/testdata.tar.gz")
    repo.commit({"hello.spec": url_spec})
    run = run_tool("git2srpm.py", "--cache", str(tmp_path / "c"), "--outdir", str(tmp_path / "o"), str(repo.path))
    assert_one_line_error(run, "Source1 testdata.tar.gz", "does not match sources")
    assert not list((tmp_path / "c").rglob("*.incoming"))
    repo.commit({"sources": "\n"})
    run = run_tool("git2srpm.py", "--cache", str(tmp_path / "c"), "--outdir", str(tmp_path / "o"), str(repo.path))
    assert_one_line_error(run, "Source1 'testdata.tar.gz'", "nor listed in sources")
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_shallow_clone_refuses_snapshot_and_warns_on_a_plain_build(make_repo, tmp_path):
    repo = make_repo({"hello.spec": spec(), "a.txt": "1\n"})
    repo.commit({"a.txt": "2\n"})
    repo.commit({"a.txt": "3\n"})
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow)], check=True)
    run = run_tool("git2srpm.py", "--snapshot", "--outdir", str(tmp_path / "o"), str(shallow))
    assert_one_line_error(run, str(shallow), "shallow clone", "git fetch --unshallow")
    plain = run_tool("git2srpm.py", "--outdir", str(tmp_path / "o"), str(shallow))
    assert plain.returncode == 0, plain.stderr
    assert "shallow clone" in plain.stderr
    assert plain.stderr.startswith("warning:")


def test_submodules_are_named_when_left_out_and_packed_with_submodules(make_repo, tmp_path):
    sub = make_repo({"lib.c": "int x;\n"})
    repo = make_repo({"hello.spec": spec(), "main.c": "int main;\n"})
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.path), "vendor/lib")
    repo.commit({}, "add a submodule")
    run = run_tool("git2srpm.py", "--outdir", str(tmp_path / "o"), str(repo.path))
    assert run.returncode == 0, run.stderr
    assert "warning: submodule vendor/lib (commit" in run.stderr
    assert "--submodules" in run.stderr
    with tarfile.open(tmp_path / "o" / "hello-1.0.tar.gz") as tar:
        assert "hello-1.0/vendor/lib/lib.c" not in tar.getnames()
    run = run_tool("git2srpm.py", "--submodules", "--outdir", str(tmp_path / "p"), str(repo.path))
    assert run.returncode == 0, run.stderr
    with tarfile.open(tmp_path / "p" / "hello-1.0.tar.gz") as tar:
        member = tar.extractfile("hello-1.0/vendor/lib/lib.c")
        assert member is not None
        assert member.read() == b"int x;\n"
    # without the submodule's clone, --submodules names it
    bare = tmp_path / "bare-clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(bare)], check=True)
    run = run_tool("git2srpm.py", "--submodules", "--outdir", str(tmp_path / "q"), str(bare))
    assert_one_line_error(run, "submodule vendor/lib has no local clone", "git submodule update --init")


def test_undefined_macro_is_named(make_repo, tmp_path):
    repo = make_repo({"hello.spec": spec(source0="%{pypi_source hello 1.0}")})
    run = run_tool("git2srpm.py", "--outdir", str(tmp_path / "o"), str(repo.path))
    assert_one_line_error(run, "hello.spec: Source0: macro %{pypi_source} is not defined", "macros")
    assert run.returncode == 2


AUTOSPEC = """\
Name: hello
Version: 1.0
Release: %autorelease
Summary: A package of the dist-git shape
License: MIT
Source0: %{name}-%{version}.tar.gz
BuildArch: noarch
%description
Hello.
%prep
%setup -q
%install
mkdir -p %{buildroot}/usr/share/hello
cp a.txt %{buildroot}/usr/share/hello/
%files
/usr/share/hello
%changelog
%autochangelog
"""


def test_autorelease_and_autochangelog_as_rpmautospec_computes_them(make_repo, tmp_path):
    from altai_testlib import ROOT

    repo = make_repo({"hello.spec": AUTOSPEC, "a.txt": "1\n"})
    repo.commit({"a.txt": "2\n"}, "Fix the greeting")
    repo.commit({"a.txt": "3\n"}, "Greet in Russian too")
    runs = [run_tool("git2srpm.py", "--dist", ".el6", "--outdir", str(tmp_path / n), str(repo.path)) for n in "ab"]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    srpm = Path(runs[0].stdout.splitlines()[-1])
    assert srpm.name == "hello-1.0-3.el6.src.rpm"
    assert srpm.read_bytes() == Path(runs[1].stdout.splitlines()[-1]).read_bytes()  # reproducible
    # rpmautospec's own command line, on a checkout of the same commit, writes the same spec
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(checkout)], check=True)
    expected = tmp_path / "expected.spec"
    library = ROOT / ".venv" / "rpmautospec"
    cli = ["/usr/bin/python3", "-s", "-c", "from rpmautospec.cli.dispatch import cli; cli()", "process-distgit"]
    env = {"PYTHONPATH": str(library), "PATH": "/usr/bin:/bin"}
    subprocess.run([*cli, str(checkout / "hello.spec"), str(expected)], env=env, check=True, capture_output=True)
    assert srpm_files(srpm)["hello.spec"] == expected.read_bytes()
    changelog = subprocess.run(["rpm", "-qp", "--changelog", str(srpm)], capture_output=True, text=True).stdout
    assert (
        changelog.index("- Greet in Russian too") < changelog.index("- Fix the greeting") < changelog.index("- initial")
    )
    assert "Test Author <author@example.com> - 1.0-3" in changelog
    # a shallow clone (CI's --depth 1) gave Release 1 where the full history gives 3: refused, as --snapshot is
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow)], check=True)
    refused = run_tool("git2srpm.py", "--dist", ".el6", "--outdir", str(tmp_path / "s"), str(shallow))
    assert_one_line_error(refused, str(shallow), "shallow clone", "%autorelease", "git fetch --unshallow")
    assert refused.returncode == 2
    # --snapshot keeps rpmautospec's release and puts its suffix before the dist
    snap = run_tool("git2srpm.py", "--snapshot", "--dist", ".el6", "--outdir", str(tmp_path / "s"), str(repo.path))
    assert snap.returncode == 0, snap.stderr
    head = repo.git("rev-parse", "--short=7", "HEAD")
    assert Path(snap.stdout.splitlines()[-1]).name == f"hello-1.0-3.git.3.{head}.el6.src.rpm"


def test_autospec_needs_the_spec_at_the_root(make_repo, tmp_path):
    repo = make_repo({"pkg/hello.spec": AUTOSPEC, "a.txt": "1\n"})
    run = run_tool("git2srpm.py", "--spec", "pkg/hello.spec", "--outdir", str(tmp_path / "o"), str(repo.path))
    assert_one_line_error(run, "pkg/hello.spec uses %autorelease/%autochangelog", "root of its repository")


def test_build_py_fetches_a_listed_source_from_the_layouts_lookaside(
    release, make_repo, state_dir, gnupghome, lookaside
):
    from altai_testlib import build

    repo = make_repo(
        {
            "hello.spec": spec(extra="Source1: testdata.tar.gz"),
            "sources": f"SHA512 (testdata.tar.gz) = {lookaside['sha512']}\n",
            "a.txt": "a\n",
        }
    )
    layout = release["layout"]
    text = layout.read_text().replace("[release]\n", f'[release]\nlookaside = "{lookaside["url"]}"\n', 1)
    layout.write_text(text + f'\n[packages.hello]\ngit = "{repo.path}"\nrepository = "misc"\n')
    run = build(release, state_dir, gnupghome, "hello")
    assert run.returncode == 0, run.stderr
    srpm = next((release["out"] / "deps" / "misc-srpms").glob("hello-*.src.rpm"))
    assert srpm_files(srpm)["testdata.tar.gz"] == DATA
    cached = release["out"].with_name("out.store") / "downloads" / "sha512" / lookaside["sha512"]
    assert cached.read_bytes() == DATA


def test_the_spec_reader_carries_any_text_through_its_json_line(tmp_path):
    """The sandboxed reader writes its line without the json module: quotes, backslashes, control and
    non-ASCII characters (one outside the BMP) in names, URLs and provides come back unchanged."""
    from altai_release.specfile.spec import read_spec

    odd = 'a"b\\c\tdé€𝄞'
    dep = odd.replace("\t", "")  # whitespace ends a dependency
    spec_file = tmp_path / "odd.spec"
    spec_file.write_text(
        "Name: odd\nVersion: 1.0\nRelease: 1\nSummary: x\nLicense: MIT\n"
        f"Source0: https://example.invalid/{odd}.tar.gz\nNoSource: 0\nPatch3: {odd}.patch\n"
        f"Provides: odd({dep}) = 2\nBuildRequires: python3-{dep} >= 1\n"
        "%description\nx\n%files\n",
        encoding="utf-8",
    )
    info = read_spec(spec_file)
    assert sorted((s.kind, s.number, s.location, s.nosource) for s in info.sources) == [
        ("patch", 3, f"{odd}.patch", False),
        ("source", 0, f"https://example.invalid/{odd}.tar.gz", True),
    ]
    assert f"odd({dep})" in info.provides
    assert [(b.name, b.version) for b in info.build_requires] == [(f"python3-{dep}", "1")]
    assert (info.name, info.epoch, info.noarch) == ("odd", None, False)


def test_sha3_in_sources_and_a_corrupt_cache_entry_offline(make_repo, tmp_path, lookaside):
    """`SHA3-256 (f) = …` names hashlib's sha3_256 (the README says any hashlib algorithm), under its own
    name in the lookaside's URL; a damaged cache entry is said to be damaged, removed, and fetched again."""
    digest = hashlib.sha3_256(DATA).hexdigest()
    target = lookaside["root"] / "hello" / "testdata.tar.gz" / "sha3-256" / digest / "testdata.tar.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(DATA)
    repo = make_repo(
        {"hello.spec": spec(extra="Source1: testdata.tar.gz"), "sources": f"SHA3-256 (testdata.tar.gz) = {digest}\n"}
    )
    cache = tmp_path / "cache"
    args = ["--lookaside", lookaside["url"], "--cache", str(cache), "--outdir", str(tmp_path / "o"), str(repo.path)]
    first = run_tool("git2srpm.py", *args)
    assert first.returncode == 0, first.stderr
    assert srpm_files(Path(first.stdout.splitlines()[-1]))["testdata.tar.gz"] == DATA
    cached = cache / "sha3_256" / digest
    cached.write_bytes(b"damaged\n")
    run = run_tool("git2srpm.py", "--offline", *args)
    assert_one_line_error(run, "Source1 testdata.tar.gz", "did not match its hash (removed)", "without --offline")
    assert not cached.exists()
    again = run_tool("git2srpm.py", *args)  # the control: online, it is fetched again
    assert again.returncode == 0, again.stderr
    assert cached.read_bytes() == DATA
