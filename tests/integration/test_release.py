"""The release tree: repodata for every repository, manifest, altai.repo, atomic publishing with hard links,
immutable NEVRAs, explicit downgrades, diff, locking, third-party imports from a real upstream served over
HTTP, and the installer's view through Debian's real dnf."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from altai_release.release.publish.store import ReleaseStore
from altai_testlib import LIB_SPEC, NOVA_FPING_VR, assert_one_line_error, build, build_argv, dnf, tree
from rpmtools import base_os_packages, build_rpm, make_key, make_repo, public_key, serve


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def entries(out: Path) -> dict[str, dict]:
    return {e["path"]: e for e in manifest(out)["packages"]}


def assert_consistent(out: Path) -> None:
    """Every file the manifest names is there with its checksum, and every repository has repodata."""
    for path, entry in entries(out).items():
        assert hashlib.sha256((out / path).read_bytes()).hexdigest() == entry["sha256"], path
    for repo in ("centos6", "centos6/SRPMS", "deps/misc", "deps/misc-srpms"):
        assert (out / repo / "repodata" / "repomd.xml").is_file()


def test_tree_layout_manifest_and_repo_file(release, state_dir, gnupghome):
    run = build(release, state_dir, gnupghome, "libaltai", "--base-url", "http://mirror.example/altai/9.9/")
    assert run.returncode == 0, run.stderr
    out = release["out"]
    assert out.is_symlink()
    # empty ones too: the installer never meets a 404
    for repo in ("centos6", "centos6/SRPMS", "deps/misc", "deps/misc-srpms"):
        assert (out / repo / "repodata" / "repomd.xml").is_file()
    arch = os.uname().machine
    listed = entries(out)
    assert sorted(listed) == [
        "deps/misc-srpms/libaltai-1.2-1.el6.src.rpm",
        f"deps/misc/libaltai-1.2-1.el6.{arch}.rpm",
        f"deps/misc/libaltai-devel-1.2-1.el6.{arch}.rpm",
    ]
    lib = listed[f"deps/misc/libaltai-1.2-1.el6.{arch}.rpm"]
    assert {k: lib[k] for k in ("repository", "name", "epoch", "version", "release", "arch", "signer")} == {
        "repository": "misc",
        "name": "libaltai",
        "epoch": None,
        "version": "1.2",
        "release": "1.el6",
        "arch": arch,
        "signer": "altai",
    }
    assert lib["sha256"] == hashlib.sha256((out / lib["path"]).read_bytes()).hexdigest()
    assert len(lib["signer_keyid"]) == 16
    repo_file = (out / "altai.repo").read_text()
    sections = {}
    for block in repo_file.split("\n[")[1:]:
        head, *lines = block.strip().splitlines()
        sections[head.rstrip("]")] = dict(line.split("=", 1) for line in lines)
    assert set(sections) == {"altai-centos6", "altai-centos6-srpms", "altai-misc", "altai-misc-srpms"}
    assert sections["altai-misc"] == {
        "name": "altai 9.9 - misc",
        "baseurl": "http://mirror.example/altai/9.9/deps/misc/",
        "enabled": "1",
        "gpgcheck": "1",
        "repo_gpgcheck": "1",  # repomd.xml.asc, by the metadata key (here the same as the packages')
        "gpgkey": "http://mirror.example/altai/9.9/RPM-GPG-KEY-altai",
        "priority": "10",
        "metadata_expire": "1h",
    }
    assert sections["altai-misc-srpms"]["enabled"] == "0"


def test_base_url_that_would_inject_repo_sections_is_refused(release, state_dir, gnupghome):
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    before = tree(release["out"])
    for bad in ("http://x/\n[evil]\nbaseurl=http://attacker", "javascript:alert(1)", "http://a b/"):
        run = build(release, state_dir, gnupghome, "libaltai", "--rebuild", "--base-url", bad)
        assert_one_line_error(run, "--base-url")
        assert "making the SRPM" not in run.stderr  # refused before any work, not after the build
    assert tree(release["out"]) == before


def test_refresh_keeps_the_rest_and_hard_links_unchanged_files(release, state_dir, gnupghome):
    out = release["out"]
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    first = out.resolve()
    lib_files = {p: (out / p).stat().st_ino for p in entries(out)}
    assert build(release, state_dir, gnupghome, "nova-fping").returncode == 0
    second = out.resolve()
    assert first != second
    assert first.exists()
    now = entries(out)
    assert set(lib_files) < set(now)
    assert any(p.startswith("centos6/nova-fping") for p in now)
    for path, inode in lib_files.items():  # unchanged files are the same inode: no copy, no extra disk
        assert (out / path).stat().st_ino == inode
    assert_consistent(out)
    # the same inputs again: every package keeps its published bytes (the signature is not redone)
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    assert {p: (out / p).stat().st_ino for p in lib_files} == lib_files


def test_published_nevra_is_immutable(release, state_dir, gnupghome):
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    before = tree(release["out"])
    release["lib"].commit({"lib.txt": "changed without a new Release\n"})
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, "libaltai-1.2-1.el6", "already published", "raise its Release")
    assert tree(release["out"]) == before


def test_downgrade_is_refused_unless_the_layout_names_it(release, state_dir, gnupghome):
    lib = release["lib"]
    lib.commit({"libaltai.spec": LIB_SPEC.replace("Version: 1.2", "Version: 1.3")})
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    old_manifest = release["out"].resolve() / "manifest.json"
    before = tree(release["out"])
    lib.git("revert", "--no-edit", "HEAD")
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, "libaltai-1.2-1.el6", "go down from 1.3-1.el6", "allow_downgrade_to")
    assert tree(release["out"]) == before
    layout = release["layout"]
    layout.write_text(
        layout.read_text().replace('repository = "misc"', 'repository = "misc"\nallow_downgrade_to = "1.2-1.el6"')
    )
    run = build(release, state_dir, gnupghome, "libaltai")
    assert run.returncode == 0, run.stderr
    lib_entry = next(e for e in manifest(release["out"])["packages"] if e["name"] == "libaltai" and e["arch"] != "src")
    assert lib_entry["version"] == "1.2"
    assert lib_entry["downgraded_from"] == "1.3-1.el6"
    diff = build(release, state_dir, gnupghome, "--diff", str(old_manifest))
    assert diff.returncode == 0, diff.stderr
    arch = os.uname().machine
    assert f"downgraded  misc: libaltai.{arch} 1.3-1.el6 -> 1.2-1.el6" in diff.stdout.splitlines()
    # counted as the notes count: binary packages, the SRPM apart
    counts = "0 added, 0 removed, 0 upgraded, 2 downgraded, 0 rebuilt (binary packages; 1 source package change)"
    assert counts in diff.stderr


def test_diff_reports_added_removed_upgraded(release, state_dir, gnupghome):
    out = release["out"]
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    first = out.resolve() / "manifest.json"
    release["lib"].commit({"libaltai.spec": LIB_SPEC.replace("Release: 1%", "Release: 2%")})
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    lines = build(release, state_dir, gnupghome, "--diff", str(first)).stdout.splitlines()
    arch = os.uname().machine
    assert f"upgraded    misc: libaltai.{arch} 1.2-1.el6 -> 1.2-2.el6" in lines
    assert f"added       centos6: nova-fping.noarch {NOVA_FPING_VR}" in lines
    back = build(release, state_dir, gnupghome, "--diff", str(out / "manifest.json"), "--against", str(first))
    assert f"removed     centos6: nova-fping.noarch {NOVA_FPING_VR}" in back.stdout.splitlines()
    assert_one_line_error(build(release, state_dir, gnupghome, "--diff", str(out / "nope.json")), "nope.json")


def test_a_second_run_fails_clearly_while_one_is_publishing(release, state_dir, gnupghome):
    tree_ = ReleaseStore(release["out"])
    with tree_.lock():
        run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, "another run", f"pid {os.getpid()}", str(release["out"]))
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0  # the lock went with its holder


def test_a_run_killed_while_making_an_srpm_leaves_its_work_in_the_store_only(release, state_dir, gnupghome):
    """The SRPM's work (clone, topdir) lives in the run's staging area, not in TMPDIR: a SIGKILL there
    leaves nothing outside OUT.store, and the next run sweeps it."""
    tmpdir = release["out"].parent / "tmpdir"
    tmpdir.mkdir()
    slow = LIB_SPEC.replace("%description", "%global pause %(sleep 30)\n%description", 1)
    release["lib"].commit({"libaltai.spec": slow})
    env = {**os.environ, "GNUPGHOME": str(gnupghome), "TMPDIR": str(tmpdir)}
    proc = subprocess.Popen(build_argv(release, state_dir, "libaltai"), env=env, stderr=subprocess.DEVNULL)
    staging = release["out"].with_name("out.store") / "staging"
    deadline = time.monotonic() + 60
    while not list(staging.glob("*/srpm/libaltai/.git2srpm-*/work/in/SPECS/*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert time.monotonic() < deadline, "the spec was never seen being read"  # not a kill at any moment
    assert proc.poll() is None, "the run ended before its spec was being read"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(tmpdir.iterdir()) == []
    assert list(staging.iterdir())  # the killed run's work is where the next run looks for it
    release["lib"].commit({"libaltai.spec": LIB_SPEC})
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    assert list(staging.iterdir()) == []


def test_killed_runs_leave_the_old_or_the_new_release(release, state_dir, gnupghome):
    out = release["out"]
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    tmpdir = release["out"].parent / "tmpdir"
    tmpdir.mkdir()
    env = {**os.environ, "GNUPGHOME": str(release["out"].parent / "gnupg-empty"), "TMPDIR": str(tmpdir)}
    (release["out"].parent / "gnupg-empty").mkdir(exist_ok=True, mode=0o700)
    argv = build_argv(release, state_dir, "--all")

    def start_release_job() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    seen = set()
    for delay in (0.2, 0.5, 0.8, 1.1, 1.4, 1.7, 2.0):
        proc = start_release_job()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert_consistent(out)  # whatever the moment, OUT is one complete release
        seen.add(len(entries(out)))
    assert seen <= {3, 7}
    # and one kill that surely lands mid-publish: while the next release is being written beside the current one
    releases_dir = out.with_name("out.store") / "releases"
    landed = None
    for attempt in range(6):
        release["lib"].commit({"libaltai.spec": LIB_SPEC.replace("Release: 1%", f"Release: {10 + attempt}%")})
        before = {p.name for p in releases_dir.iterdir()}
        published_before = out.resolve()
        proc = start_release_job()
        while proc.poll() is None:
            fresh = [p for p in releases_dir.iterdir() if p.name not in before]
            if fresh and not (fresh[0] / "manifest.json").exists():
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                if fresh[0].exists() and not (fresh[0] / "manifest.json").exists():
                    landed = fresh[0]
                break
            time.sleep(0.001)
        proc.wait()
        if landed is not None:
            assert out.resolve() == published_before  # OUT still names the release before the kill
            break
    assert landed is not None, "no kill landed while a release was being written"
    assert_consistent(out)
    assert build(release, state_dir, gnupghome, "--all").returncode == 0  # and the next run completes
    assert len(entries(out)) == 7
    releases = list(releases_dir.iterdir())
    assert all((p / "manifest.json").exists() for p in releases)  # half-made releases were swept away
    assert not landed.exists()
    assert not list((out.with_name("out.store") / "staging").iterdir())  # the last run cleaned up
    assert list(tmpdir.iterdir()) == []  # and the killed ones left nothing outside the store


@pytest.fixture
def upstream(tmp_path):
    """A real third-party repository: RPMs signed with a throwaway upstream key, createrepo_c metadata."""
    key = make_key(tmp_path / "upstream-gnupg", "Upstream EPEL Test Key")
    rogue = make_key(tmp_path / "rogue-gnupg", "Someone Else")
    work = tmp_path / "upstream-build"
    pkgs = {
        "fping-3.10": build_rpm(work, "fping", "3.10", "1.el6", signer=key),
        "fping-3.13": build_rpm(work, "fping", "3.13", "1.el6", signer=key),
        "python-webob": build_rpm(work, "python-webob", "1.2.3", "4.el6", signer=key),
        "rogue": build_rpm(work, "python-rogue", "1.0", "1", signer=rogue),
        "unsigned": build_rpm(work, "python-unsigned", "1.0", "1"),
    }
    root = tmp_path / "upstream-www"
    make_repo(root / "epel", list(pkgs.values()))
    key_file = tmp_path / "RPM-GPG-KEY-EPEL-TEST"
    key_file.write_bytes(public_key(key))
    with serve(root) as url:
        yield {"url": f"{url}/epel", "key_file": key_file, "root": root / "epel", "key": key}


def with_upstream(release, upstream, packages: str, url: str | None = None) -> None:
    layout = release["layout"]
    layout.write_text(
        layout.read_text()
        + f"""
[keys.epel]
id = "Upstream EPEL Test Key"
file = "{upstream["key_file"]}"

[repositories.epel]
path = "deps/epel"
signed_by = "epel"
content = "upstream"

[upstreams.epel]
url = "{url or upstream["url"]}"
key = "epel"
repository = "epel"
packages = {packages}
"""
    )


def test_import_pinned_packages_from_a_real_upstream(release, state_dir, gnupghome, upstream, tmp_path):
    with_upstream(release, upstream, '["fping", "python-webob = 1.2.3-4.el6"]')
    run = build(release, state_dir, gnupghome, "--all")
    assert run.returncode == 0, run.stderr
    out = release["out"]
    imported = {p: e for p, e in entries(out).items() if p.startswith("deps/epel/")}
    assert sorted(imported) == [
        "deps/epel/fping-3.13-1.el6.noarch.rpm",  # the newest when no version is pinned
        "deps/epel/python-webob-1.2.3-4.el6.noarch.rpm",
    ]
    assert {e["signer"] for e in imported.values()} == {"epel"}
    assert {e["signer_keyid"] for e in imported.values()} == {upstream["key"].fingerprint[-16:].lower()}
    # kept as upstream signed them: byte for byte
    assert (out / "deps/epel/fping-3.13-1.el6.noarch.rpm").read_bytes() == (
        upstream["root"] / "fping-3.13-1.el6.noarch.rpm"
    ).read_bytes()
    assert (out / "RPM-GPG-KEY-epel").read_bytes() == upstream["key_file"].read_bytes()
    assert "[altai-epel]" in (out / "altai.repo").read_text()


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        ('["python-rogue"]', "python-rogue-1.0-1.noarch.rpm is not signed by key 'epel'"),
        ('["python-unsigned"]', "python-unsigned-1.0-1.noarch.rpm is not signed by key 'epel'"),
        ('["fping = 9.9-1.el6"]', "no package 'fping = 9.9-1.el6'"),
    ],
)
def test_import_refuses_foreign_unsigned_and_missing(release, state_dir, gnupghome, upstream, pin, message):
    assert build(release, state_dir, gnupghome, "nova-fping").returncode == 0
    before = tree(release["out"])
    with_upstream(release, upstream, pin)
    assert_one_line_error(build(release, state_dir, gnupghome, "--all"), "upstream 'epel'", message)
    assert tree(release["out"]) == before


def test_import_refuses_a_checksum_mismatch(release, state_dir, gnupghome, upstream):
    target = upstream["root"] / "python-webob-1.2.3-4.el6.noarch.rpm"
    target.write_bytes(target.read_bytes() + b"tampered")
    with_upstream(release, upstream, '["python-webob"]')
    run = build(release, state_dir, gnupghome, "--all")
    assert_one_line_error(run, "python-webob-1.2.3-4.el6.noarch.rpm", "does not match the sha256 checksum")
    assert tree(release["out"]) == {}


def test_unreachable_upstream_fails_the_run(release, state_dir, gnupghome, upstream):
    with_upstream(release, upstream, '["fping"]', url="http://127.0.0.1:9/epel")
    run = build(release, state_dir, gnupghome, "--all")
    assert_one_line_error(run, "upstream 'epel'", "cannot fetch http://127.0.0.1:9/epel/repodata/repomd.xml")
    assert tree(release["out"]) == {}


@pytest.fixture
def base_os(tmp_path):
    """A test "base OS" repository with stand-ins for what nova-fping Requires from CentOS."""
    key = make_key(tmp_path / "base-gnupg", "Test Base OS Key")
    work = tmp_path / "base-build"
    packages = base_os_packages(work, key)
    make_repo(tmp_path / "www" / "base", packages)
    (tmp_path / "www" / "RPM-GPG-KEY-base").write_bytes(public_key(key))
    return tmp_path / "www"


def test_installer_installs_nova_fping_with_dnf_over_http(release, state_dir, gnupghome, base_os, tmp_path):
    out = release["out"]
    (base_os / "altai").symlink_to(out)
    with serve(base_os) as url:
        run = build(release, state_dir, gnupghome, "--all", "--base-url", f"{url}/altai")
        assert run.returncode == 0, run.stderr
        reposdir = tmp_path / "yum.repos.d"
        reposdir.mkdir()
        (reposdir / "altai.repo").write_text((out / "altai.repo").read_text())
        (reposdir / "base.repo").write_text(
            f"[base]\nname=base\nbaseurl={url}/base/\ngpgcheck=1\ngpgkey={url}/RPM-GPG-KEY-base\n"
        )
        root = tmp_path / "installroot"
        proc = dnf(root, reposdir, "install", "nova-fping")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for path in (
            "usr/lib/python3.6/site-packages/nova_fping/api.py",
            "usr/bin/nova-fping-api",
            "etc/nova-fping/nova-fping.conf",
            "etc/rc.d/init.d/nova-fping-api",
        ):
            assert (root / path).is_file(), path
        closure = dnf(
            root,
            reposdir,
            "repoclosure",
            "--check",
            "altai-centos6",
            "--check",
            "altai-misc",
            plugins="--disableplugin=local",
        )
        assert closure.returncode == 0, closure.stdout + closure.stderr
        assert "unresolved" not in closure.stdout, closure.stdout + closure.stderr


def test_dnf_refuses_a_package_signed_with_another_key(release, state_dir, gnupghome, base_os, tmp_path):
    out = release["out"]
    (base_os / "altai").symlink_to(out)
    assert build(release, state_dir, gnupghome, "nova-fping").returncode == 0
    # an intruder slips a package signed by someone else into the published centos6 repository
    intruder = make_key(tmp_path / "intruder-gnupg", "Intruder")
    rogue = build_rpm(tmp_path / "rogue", "altai-rogue", signer=intruder)
    current = out.resolve()
    (current / "centos6" / rogue.name).write_bytes(rogue.read_bytes())
    subprocess.run(["createrepo_c", "--quiet", "--general-compress-type", "gz", str(current / "centos6")], check=True)
    with serve(base_os) as url:
        reposdir = tmp_path / "yum.repos.d"
        reposdir.mkdir()
        repo_text = (out / "altai.repo").read_text().replace(out.as_uri(), f"{url}/altai")
        (reposdir / "altai.repo").write_text(repo_text)
        proc = dnf(tmp_path / "installroot", reposdir, "install", "altai-rogue")
        assert proc.returncode != 0
        assert "GPG" in proc.stdout + proc.stderr or "signature" in (proc.stdout + proc.stderr).lower()
        assert not list((tmp_path / "installroot").glob("usr/share/altai-rogue"))


def test_nova_fping_rpm_is_rpmlint_clean_with_explained_filters(release, state_dir, gnupghome):
    assert build(release, state_dir, gnupghome, "nova-fping").returncode == 0
    out = release["out"]
    built = [out / p for p in entries(out) if "nova-fping" in p]
    assert len(built) == 2
    rcfile = Path(__file__).resolve().parents[2] / "specs" / "nova-fping.rpmlintrc"
    lint = subprocess.run(["rpmlint", "-r", str(rcfile), *map(str, built)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    assert "2 packages and 0 specfiles checked; 0 errors, 0 warnings" in lint.stdout


def builders(run) -> dict[str, str]:
    assert run.returncode == 0, run.stderr
    return {r["package"]: r["builder"] for r in json.loads(run.stdout)["packages"]}


def test_incremental_release_builds_only_what_changed(release, state_dir, gnupghome):
    out = release["out"]
    assert set(builders(build(release, state_dir, gnupghome, "--all", "--json")).values()) == {"rpmbuild"}
    first = out.resolve()
    # nothing changed: nothing is built, and the release is not even re-published
    again = build(release, state_dir, gnupghome, "--all", "--json")
    assert builders(again) == {"nova-fping": "cached", "libaltai": "cached", "altai-app": "cached"}
    assert out.resolve() == first
    assert "nothing changed" in again.stderr
    # one package changes: only it is built; the others keep their files (same inodes)
    inodes = {p: (out / p).stat().st_ino for p in entries(out) if "libaltai" not in p}
    release["lib"].commit({"libaltai.spec": LIB_SPEC.replace("Release: 1%", "Release: 2%")})
    assert builders(build(release, state_dir, gnupghome, "--all", "--json")) == {
        "nova-fping": "cached",
        "libaltai": "rpmbuild",
        "altai-app": "cached",
    }
    assert {p: (out / p).stat().st_ino for p in inodes} == inodes
    assert any("libaltai-1.2-2.el6" in p for p in entries(out))
    # --rebuild forces the builds; reproducible results keep the published bytes
    before = tree(out)
    assert set(builders(build(release, state_dir, gnupghome, "--all", "--rebuild", "--json")).values()) == {"rpmbuild"}
    assert tree(out) == before


def test_build_configuration_is_part_of_the_cache_key(release, state_dir, gnupghome):
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    macros = release["layout"].parent / "el6.macros"
    macros.write_text(macros.read_text() + "%altai_test_macro 1\n")
    assert builders(build(release, state_dir, gnupghome, "libaltai", "--json")) == {"libaltai": "rpmbuild"}
    assert builders(build(release, state_dir, gnupghome, "libaltai", "--json")) == {"libaltai": "cached"}


SHARED_SPEC = """\
Name: {name}
Version: {version}
Release: 1%{{?dist}}
Summary: {name}
License: MIT
Source0: %{{name}}-%{{version}}.tar.gz
Source1: {name}.conf
BuildArch: noarch
%description
{name}.
%prep
%setup -q
%install
mkdir -p %{{buildroot}}/usr/share/{name}
cp -a . %{{SOURCE1}} %{{buildroot}}/usr/share/{name}/
%files
/usr/share/{name}
"""


def test_a_package_is_made_of_its_tree_its_spec_and_the_files_it_names(release, make_repo, state_dir, gnupghome):
    """Two packages whose specs share a directory (like specs/ here): bumping one spec rebuilds that package
    only, and --all publishes; a file its spec names is an input, another file beside the spec is not."""
    shared = make_repo(
        {
            "specs/alpha.spec": SHARED_SPEC.format(name="alpha", version="1.0"),
            "specs/alpha.conf": "a=1\n",
            "specs/beta.spec": SHARED_SPEC.format(name="beta", version="1.0"),
            "specs/beta.conf": "b=1\n",
            "alpha/a.txt": "alpha\n",
            "beta/b.txt": "beta\n",
        }
    )
    layout = release["layout"]
    layout.write_text(
        layout.read_text()
        + "".join(
            f'\n[packages.{n}]\ngit = "{shared.path}"\nsubdir = "{n}"\nspec = "specs/{n}.spec"\n'
            'repository = "centos6"\n'
            for n in ("alpha", "beta")
        )
    )
    out = release["out"]
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    beta_files = {p: (out / p).read_bytes() for p in entries(out) if "/beta-" in p}
    assert len(beta_files) == 2
    # alpha's spec is bumped: beta is not rebuilt and keeps its bytes, and the release job publishes
    shared.commit({"specs/alpha.spec": SHARED_SPEC.format(name="alpha", version="1.1")})
    run = build(release, state_dir, gnupghome, "--all", "--json")
    assert builders(run)["beta"] == "cached"
    assert builders(run)["alpha"] == "rpmbuild"
    assert {p: (out / p).read_bytes() for p in entries(out) if "/beta-" in p} == beta_files
    assert any("/alpha-1.1-1.el6" in p for p in entries(out))
    # a --rebuild of beta gives the same bytes: its SOURCE_DATE_EPOCH did not move with alpha's commit
    assert build(release, state_dir, gnupghome, "beta", "--rebuild").returncode == 0
    assert {p: (out / p).read_bytes() for p in entries(out) if "/beta-" in p} == beta_files
    # the file beta's spec names is an input: changing it rebuilds beta (a new Release is then needed)
    shared.commit({"specs/beta.conf": "b=2\n"})
    run = build(release, state_dir, gnupghome, "--all", "--json")
    assert run.returncode != 0
    assert "beta-1.0-1.el6" in run.stderr
    assert "a published NEVRA never changes" in run.stderr


def test_published_release_is_readable_by_a_web_server(release, state_dir, gnupghome):
    """Every release directory was 0700 (mkdtemp): nginx or httpd, as their own user, got 'Permission denied'.
    The tree is read here as `nobody`, from a directory anyone may traverse."""
    import shutil
    import tempfile

    served = Path(tempfile.mkdtemp(prefix="altai-served-"))
    try:
        served.chmod(0o755)
        release["out"] = served / "out"
        assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
        package = next((release["out"] / "deps" / "misc").glob("libaltai-1*.rpm"))
        for path in (release["out"] / "altai.repo", release["out"] / "manifest.json", package):
            read = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(path)], capture_output=True)
            assert read.returncode == 0, (path, read.stderr)
            assert read.stdout == path.read_bytes()
    finally:
        shutil.rmtree(served)


def test_altai_repo_sets_metadata_expire(release, state_dir, gnupghome):
    """A moving --base-url and dnf's two-day default: distro-sync said 'Nothing to do' for two days."""
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    sections = (release["out"] / "altai.repo").read_text().split("\n[")[1:]
    assert sections
    assert all("\nmetadata_expire=1h\n" in s for s in sections)
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('dist = ".el6"', 'dist = ".el6"\nmetadata_expire = "10m"', 1))
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    assert "metadata_expire=10m" in (release["out"] / "altai.repo").read_text()
    layout.write_text(layout.read_text().replace('"10m"', '"soon"'))
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, 'release.metadata_expire: expected seconds, or a number with s, m, h or d, or "never"')


def test_accept_without_base_repositories_says_what_is_missing(release, state_dir, gnupghome):
    """--accept without --base-repos failed with 'repoclosure failed: /bin/sh' and no hint."""
    assert build(release, state_dir, gnupghome, "nova-fping").returncode == 0
    run = build(release, state_dir, gnupghome, "--accept")
    assert_one_line_error(
        run, "repoclosure failed", "the base OS provides these: give its .repo file with --base-repos"
    )


def test_repository_metadata_is_signed_and_checked_by_dnf(release, state_dir, gnupghome, base_os, tmp_path):
    """Every repomd.xml has its detached signature by the release key, and altai.repo asks for the check
    (repo_gpgcheck): metadata a mirror re-made (to list a package of its own, or an older one) is refused
    before any package of it is considered, even one whose own signature is good."""
    out = release["out"]
    (base_os / "altai").symlink_to(out)
    with serve(base_os) as url:
        assert build(release, state_dir, gnupghome, "nova-fping", "--base-url", f"{url}/altai").returncode == 0
        current = out.resolve()
        home = tmp_path / "verify-gnupg"
        home.mkdir(mode=0o700)
        subprocess.run(
            ["gpg", "--homedir", str(home), "--import", str(current / "RPM-GPG-KEY-altai")],
            check=True,
            capture_output=True,
        )
        for repo in ("centos6", "centos6/SRPMS", "deps/misc", "deps/misc-srpms"):
            repomd = current / repo / "repodata" / "repomd.xml"
            check = subprocess.run(
                ["gpg", "--homedir", str(home), "--verify", f"{repomd}.asc", str(repomd)],
                capture_output=True,
                text=True,
            )
            assert check.returncode == 0, (repo, check.stderr)
        assert "repo_gpgcheck=1" in (out / "altai.repo").read_text()
        reposdir = tmp_path / "yum.repos.d"
        reposdir.mkdir()
        (reposdir / "altai.repo").write_text((out / "altai.repo").read_text())
        (reposdir / "base.repo").write_text(
            f"[base]\nname=base\nbaseurl={url}/base/\ngpgcheck=1\ngpgkey={url}/RPM-GPG-KEY-base\n"
        )
        # a mirror re-makes the metadata (createrepo_c): the signature no longer matches
        subprocess.run(["createrepo_c", "--quiet", str(current / "centos6")], check=True)
        proc = dnf(tmp_path / "installroot", reposdir, "install", "nova-fping")
        assert proc.returncode != 0, proc.stdout
        said = (proc.stdout + proc.stderr).lower()
        assert "gpg" in said or "signature" in said, said
        assert not (tmp_path / "installroot" / "usr" / "bin" / "nova-fping-api").exists()
