"""Third-party source RPMs rebuilt into deps/misc: SRPMs made here with rpmbuild, signed by an "upstream"
key made here, served by a real HTTP server on 127.0.0.1; rebuilt by the local builder; the republished
SRPM checked with rpmkeys and the rpm bindings; installed with Debian's dnf from the published tree."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest
from altai_testlib import PATCHED_SPEC, assert_one_line_error, build, dnf, packages_and_keys, srpm_with, tree
from rpmtools import TestKey, make_key, public_key, rpmsign, serve, served_release

RABBIT_SPEC = """\
Name: {name}
Version: 1.0
Release: 1%{{?dist}}
Summary: A third-party package we rebuild unchanged
License: MIT
Source0: %{{name}}-%{{version}}.tar.gz
{tags}
BuildArch: noarch
%description
Third party.
%prep
%setup -q
%build
cat data.txt > built.txt
%install
mkdir -p %{{buildroot}}/usr/share/{name}
cp built.txt %{{buildroot}}/usr/share/{name}/
%files
/usr/share/{name}
"""


def make_srpm(work: Path, name: str, tags: str = "", signer: TestKey | None = None, dist: str = ".el6") -> Path:
    """An upstream's SRPM: rpmbuild -bs with the upstream's dist, signed by its key."""
    top = work / f"top-{name}"
    (top / "SOURCES").mkdir(parents=True)
    data = f"{name} data\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{name}-1.0/data.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (top / "SOURCES" / f"{name}-1.0.tar.gz").write_bytes(buf.getvalue())
    spec = top / f"{name}.spec"
    spec.write_text(RABBIT_SPEC.format(name=name, tags=tags))
    subprocess.run(
        ["rpmbuild", "--quiet", "-bs", "--define", f"_topdir {top}", "--define", f"dist {dist}", str(spec)],
        check=True,
        capture_output=True,
    )
    (srpm,) = (top / "SRPMS").glob("*.src.rpm")
    if signer is not None:
        rpmsign(signer, [srpm])
    return srpm


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def qf(path: Path, fmt: str) -> str:
    return subprocess.run(
        ["rpm", "-qp", "--nosignature", "--qf", fmt, str(path)], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("srpm-upstream")
    key = make_key(tmp / "upstream-gnupg", "Upstream SRPM Key")
    other = make_key(tmp / "other-gnupg", "Someone Else")
    www = tmp / "www"
    www.mkdir()
    srpms = {
        "rabbit": make_srpm(tmp, "rabbit", signer=key),
        "unsigned": make_srpm(tmp, "unsigned"),
        "foreign": make_srpm(tmp, "foreign", signer=other),
        "needs-lib": make_srpm(tmp, "needs-lib", tags="BuildRequires: libaltai-devel >= 1.0", signer=key),
        "thirdparty-tool": make_srpm(tmp, "thirdparty-tool", signer=key, dist=".fc18"),
    }
    for path in srpms.values():
        (www / path.name).write_bytes(path.read_bytes())
    key_file = tmp / "RPM-GPG-KEY-upstream"
    key_file.write_bytes(public_key(key))
    with serve(www) as url:
        yield {"url": url, "srpms": srpms, "key_file": key_file, "key": key}


def add_srpm(
    release, upstream, name: str, *, sha: str | None = None, key: bool = True, url: str | None = None, extra: str = ""
) -> None:
    srpm = upstream["srpms"][name]
    layout = release["layout"]
    text = layout.read_text()
    if "[keys.upstream]" not in text:
        text += f'\n[keys.upstream]\nid = "Upstream SRPM Key"\nfile = "{upstream["key_file"]}"\n'
    text += textwrap.dedent(f"""
        [packages.{name}]
        srpm = "{url or f"{upstream['url']}/{srpm.name}"}"
        sha256 = "{sha or sha256(srpm)}"
        repository = "misc"
        """)
    if key:
        text += 'key = "upstream"\n'
    layout.write_text(text + extra)


def test_srpm_is_rebuilt_signed_and_republished_with_the_upstream_payload(
    release, state_dir, gnupghome, upstream, tmp_path
):
    add_srpm(release, upstream, "rabbit")
    run = build(release, state_dir, gnupghome, "rabbit", "--json")
    assert run.returncode == 0, run.stderr
    out = release["out"]
    assert "deps/misc/rabbit-1.0-1.el6.noarch.rpm" in packages_and_keys(out)
    republished = out / "deps/misc-srpms/rabbit-1.0-1.el6.src.rpm"
    original = upstream["srpms"]["rabbit"]
    # what a user downloads: the upstream source, byte for byte, plus our signature
    assert qf(republished, "%{PAYLOADDIGEST} %{SHA256HEADER}") == qf(original, "%{PAYLOADDIGEST} %{SHA256HEADER}")
    db = tmp_path / "db"
    db.mkdir()
    subprocess.run(["rpmkeys", "--dbpath", str(db), "--import", str(out / "RPM-GPG-KEY-altai")], check=True)
    binary = out / "deps/misc/rabbit-1.0-1.el6.noarch.rpm"
    check = subprocess.run(
        ["rpmkeys", "--dbpath", str(db), "-K", str(republished), str(binary)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout
    assert check.stdout.count("signatures OK") == 2, check.stdout
    entries = {e["path"]: e for e in json.loads((out / "manifest.json").read_text())["packages"]}
    source = entries["deps/misc-srpms/rabbit-1.0-1.el6.src.rpm"]["source"]
    assert source == {
        "kind": "srpm",
        "url": f"{upstream['url']}/{original.name}",
        "sha256": sha256(original),
        "signer_keyid": upstream["key"].fingerprint[-16:].lower(),
    }
    assert entries["deps/misc/rabbit-1.0-1.el6.noarch.rpm"]["source"] == source
    # fetched once: a second run uses the content-addressed cache and keeps the published build
    assert (out.with_name("out.store") / "downloads" / "sha256" / sha256(original)).is_file()
    again = build(release, state_dir, gnupghome, "--all", "--json")
    assert {r["package"]: r["builder"] for r in json.loads(again.stdout)["packages"]}["rabbit"] == "cached", (
        again.stderr
    )
    # the release's promise: the republished third-party SRPM rebuilds into the very binary published
    verified = build(release, state_dir, gnupghome, "--verify", "--json")
    assert verified.returncode == 0, verified.stdout
    verdicts = {f["path"]: f["verdict"] for f in json.loads(verified.stdout)["files"]}
    assert verdicts["deps/misc/rabbit-1.0-1.el6.noarch.rpm"] == "reproduced"


def test_an_upstream_srpm_of_another_dist_is_made_anew_for_the_layouts(
    release, state_dir, gnupghome, upstream, tmp_path
):
    """The usual case, rebuilding a Fedora SRPM: refused as 'not a package of ...fc18.src.rpm' after the
    one-way check; before it, the .fc18 SRPM was published beside .el6 binaries that name an SRPM nobody
    published. Now the upstream's spec and sources make the .el6 SRPM in the sandbox (as mock does), which
    the binaries name, deps/misc-srpms publishes with the team's signature and --verify rebuilds."""
    add_srpm(release, upstream, "thirdparty-tool")
    run = build(release, state_dir, gnupghome, "thirdparty-tool")
    assert run.returncode == 0, run.stderr
    assert (
        "thirdparty-tool-1.0-1.fc18.src is of another dist: its SRPM is made anew as thirdparty-tool-1.0-1.el6.src"
        in run.stderr
    )
    out = release["out"]
    published = [p for p in packages_and_keys(out) if "thirdparty-tool" in p]
    assert published == [
        "deps/misc-srpms/thirdparty-tool-1.0-1.el6.src.rpm",
        "deps/misc/thirdparty-tool-1.0-1.el6.noarch.rpm",
    ]
    srpm, binary = out / published[0], out / published[1]
    original = upstream["srpms"]["thirdparty-tool"]
    assert qf(binary, "%{SOURCERPM}") == srpm.name
    for name in ("thirdparty-tool.spec", "thirdparty-tool-1.0.tar.gz"):  # upstream's own, unchanged
        assert payload(srpm, name) == payload(original, name), name
    db = tmp_path / "db"
    db.mkdir()
    subprocess.run(["rpmkeys", "--dbpath", str(db), "--import", str(out / "RPM-GPG-KEY-altai")], check=True)
    check = subprocess.run(
        ["rpmkeys", "--dbpath", str(db), "-K", str(srpm), str(binary)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout
    assert check.stdout.count("signatures OK") == 2, check.stdout
    entries = {e["path"]: e for e in json.loads((out / "manifest.json").read_text())["packages"]}
    source = entries[published[0]]["source"]
    assert (source["url"], source["sha256"]) == (f"{upstream['url']}/{original.name}", sha256(original))
    verified = build(release, state_dir, gnupghome, "--verify", "--json")
    assert verified.returncode == 0, verified.stdout
    verdicts = {f["path"]: f["verdict"] for f in json.loads(verified.stdout)["files"]}
    assert verdicts[published[1]] == "reproduced"


def test_srpm_package_waits_for_the_git_package_it_build_requires(release, state_dir, gnupghome, upstream):
    """With mock, whose build root installs the libaltai-devel this run built (the local builder would refuse
    a package that BuildRequires another of the release)."""
    add_srpm(release, upstream, "needs-lib")
    run = build(release, state_dir, gnupghome, "libaltai", "needs-lib", "--jobs", "4", "--verbose", "--builder", "mock")
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    started = [ln for ln in lines if "building with" in ln]
    built_lib = next(i for i, ln in enumerate(lines) if ln.startswith("time: libaltai: build ("))  # its end
    start_needs = next(i for i, ln in enumerate(lines) if "needs-lib: building with" in ln)
    assert built_lib < start_needs, started


@pytest.mark.parametrize(
    ("name", "kwargs", "fragments"),
    [
        ("rabbit", {"sha": "0" * 64}, ["rabbit: source RPM", "does not match the layout's sha256", "0" * 64]),
        ("unsigned", {}, ["unsigned: source RPM", "is not signed by key 'upstream'"]),
        ("foreign", {}, ["foreign: source RPM", "is not signed by key 'upstream'"]),
        (
            "rabbit",
            {"url": "http://127.0.0.1:9/rabbit-1.0-1.el6.src.rpm"},
            ["rabbit: source RPM", "cannot fetch", "http://127.0.0.1:9/"],
        ),
    ],
)
def test_bad_srpm_fails_with_one_line_and_changes_nothing(
    release, state_dir, gnupghome, upstream, name, kwargs, fragments
):
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    before = tree(release["out"])
    add_srpm(release, upstream, name, **kwargs)
    run = build(release, state_dir, gnupghome, name)
    assert_one_line_error(run, *fragments)
    assert run.returncode in (3, 4)
    assert tree(release["out"]) == before
    assert not list((release["out"].with_name("out.store") / "downloads").rglob("*.incoming-*"))


def test_missing_srpm_names_the_url(release, state_dir, gnupghome, upstream):
    add_srpm(release, upstream, "rabbit", url=f"{upstream['url']}/nope-1.0-1.src.rpm")
    run = build(release, state_dir, gnupghome, "rabbit")
    assert_one_line_error(run, "rabbit: source RPM", f"{upstream['url']}/nope-1.0-1.src.rpm", "404")


def test_git_and_srpm_are_exclusive(release, state_dir, gnupghome, upstream):
    add_srpm(release, upstream, "rabbit", extra=f'git = "{release["lib"].path}"\n')
    assert_one_line_error(
        build(release, state_dir, gnupghome, "rabbit"), "packages.rabbit", "exactly one of git", "srpm"
    )


def test_rebuilt_srpm_installs_with_dnf_and_gpgcheck(release, state_dir, gnupghome, upstream, tmp_path):

    add_srpm(release, upstream, "rabbit")
    out = release["out"]
    assert build(release, state_dir, gnupghome, "rabbit").returncode == 0
    with served_release(out, tmp_path) as reposdir:
        proc = dnf(tmp_path / "root", reposdir, "install", "rabbit")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "root/usr/share/rabbit/built.txt").read_text() == "rabbit data\n"


def payload(srpm: Path, name: str) -> bytes:
    with open(srpm, "rb") as stdin:  # rpm2archive itself, not the code under test
        listing = subprocess.run(["rpm2archive", "-n", "-"], stdin=stdin, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(listing)) as tar:
        for member in tar.getmembers():
            if member.name.lstrip("./") == name:
                extracted = tar.extractfile(member)
                assert extracted is not None
                return extracted.read()
    raise AssertionError(f"{name} not in {srpm}")


def test_srpm2git_round_trip(tmp_path):
    from altai_testlib import run_tool

    srpm = srpm_with(tmp_path, {"patched-2.1/README": b"old\n", "patched-2.1/bin/run.sh": b"#!/bin/sh\n"})
    repo = tmp_path / "imported"
    run = run_tool("srpm2git.py", str(srpm), str(repo))
    assert run.returncode == 0, run.stderr
    assert "--dist .el6" in run.stderr
    assert sorted(p.name for p in repo.iterdir() if p.name != ".git") == [
        "README",
        "bin",
        "fix-build.patch",
        "patched.conf",
        "patched.spec",
    ]
    assert os.access(repo / "bin" / "run.sh", os.X_OK)
    log = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%ct %s"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert log == [f"{qf(srpm, '%{BUILDTIME}')} Import patched-2.1-3.el6 from {srpm.name}"]
    back = run_tool("git2srpm.py", "--dist", ".el6", "--outdir", str(tmp_path / "back"), str(repo))
    assert back.returncode == 0, back.stderr
    again = Path(back.stdout.splitlines()[-1])
    assert (
        qf(again, "%{NAME} %{VERSION} %{RELEASE}") == qf(srpm, "%{NAME} %{VERSION} %{RELEASE}") == "patched 2.1 3.el6"
    )
    for name in ("patched.spec", "fix-build.patch", "patched.conf"):
        assert payload(again, name) == payload(srpm, name), name


@pytest.mark.parametrize("same", [True, False])
def test_srpm2git_spec_in_the_tarball_too(tmp_path, same):
    """Many upstream tarballs ship their spec, and %autorelease wants it at the root: the same file twice is
    one file; where the two differ, the SRPM's copy (what was built) is kept and the user is told."""
    from altai_testlib import run_tool

    shipped = PATCHED_SPEC if same else PATCHED_SPEC.replace("Summary:", "# an older copy\nSummary:")
    srpm = srpm_with(tmp_path, {"patched-2.1/README": b"old\n", "patched-2.1/patched.spec": shipped.encode()})
    repo = tmp_path / "imported"
    run = run_tool("srpm2git.py", str(srpm), str(repo))
    assert run.returncode == 0, run.stderr
    assert (repo / "patched.spec").read_text() == PATCHED_SPEC
    kept = "warning: patched.spec: the tarball and the SRPM differ; the SRPM's copy is kept"
    assert (kept in run.stderr) != same
    # a normal index, as `git add` writes one (asked before git status, which rewrites it): read-tree
    # alone leaves every entry's stat data zero
    debug = subprocess.run(["git", "-C", str(repo), "ls-files", "--debug"], capture_output=True, text=True).stdout
    sizes = [line.split("size: ")[1].split()[0] for line in debug.splitlines() if "size: " in line]
    assert sizes, debug
    assert "0" not in sizes, debug
    assert "mtime: 0:0" not in debug, debug
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""
    back = run_tool("git2srpm.py", "--dist", ".el6", "--outdir", str(tmp_path / "back"), str(repo))
    assert back.returncode == 0, back.stderr
    assert "uncommitted changes" not in back.stderr, back.stderr


@pytest.mark.parametrize(
    ("member", "fragment"),
    [
        ("patched-2.1/../../escape.txt", "refusing the path"),
        ("link", "leaves the repository"),
    ],
)
def test_srpm2git_refuses_a_tarball_that_leaves_the_repository(tmp_path, member, fragment):
    from altai_testlib import run_tool

    members: dict[str, tarfile.TarInfo | bytes] = {"patched-2.1/README": b"old\n"}
    if member == "link":
        info = tarfile.TarInfo("patched-2.1/etc")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../../etc"
        members["patched-2.1/etc"] = info
    else:
        members[member] = b"x\n"
    srpm = srpm_with(tmp_path, members)
    run = run_tool("srpm2git.py", str(srpm), str(tmp_path / "imported"))
    assert_one_line_error(run, fragment)
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path.parent / "escape.txt").exists()
    assert not [p for p in (tmp_path / "imported").rglob("*") if ".git" not in p.parts]


def test_explain_says_where_a_package_comes_from_without_building(release, state_dir, gnupghome, upstream):
    add_srpm(release, upstream, "rabbit")
    layout = release["layout"]
    layout.write_text(
        layout.read_text() + f'\n[packages.remote-lib]\ngit = "file://{release["lib"].path}"\nrepository = "misc"\n'
    )
    run = build(release, state_dir, gnupghome, "--explain", "rabbit", "libaltai", "remote-lib")
    assert run.returncode == 0, run.stderr
    srpm = upstream["srpms"]["rabbit"]
    lib_commit = release["lib"].git("rev-parse", "HEAD")
    assert f"  source:      source RPM {upstream['url']}/{srpm.name}" in run.stdout
    assert f"  sha256:      {sha256(srpm)}" in run.stdout
    assert f"  ref:         HEAD = commit {lib_commit}" in run.stdout
    # a URL is asked with git ls-remote, not cloned
    assert run.stdout.count(f"  ref:         HEAD = commit {lib_commit}") == 2
    assert "  repository:  misc (deps/misc/, SRPMs in deps/misc-srpms/)" in run.stdout
    assert "signing key: altai = 'Altai Test Release Key' (no secret key in" in run.stdout
    assert not release["out"].exists()
    assert not release["out"].with_name("out.store").exists()


def test_explain_json_gives_values_not_sentences(release, state_dir, gnupghome, upstream):
    """--explain --json gave the text view's sentences as values."""
    add_srpm(release, upstream, "rabbit")
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('dist = ".el6"\n', 'dist = ".el6"\nrelease_package = true\n', 1))
    run = build(release, state_dir, gnupghome, "--explain", "--all", "--json")
    assert run.returncode == 0, run.stderr
    said = json.loads(run.stdout)
    assert said["ok"] is True
    said = said["packages"]
    lib, rabbit = said["libaltai"], said["rabbit"]
    assert lib["source"]["kind"] == "git"
    assert lib["source"]["commit"] == release["lib"].git("rev-parse", "HEAD")
    assert lib["repository"] == {"name": "misc", "path": "deps/misc", "sources_path": "deps/misc-srpms"}
    assert rabbit["source"]["sha256"] == sha256(upstream["srpms"]["rabbit"])
    assert rabbit["source"]["in_download_cache"] is False
    assert rabbit["dist"] == ".el6"
    assert lib["signing_key"]["development_fallback"] is True
    assert lib["signing_key"]["secret_key_fingerprint"] is None
    assert said["altai-release"]["source"]["kind"] == "release-package"
