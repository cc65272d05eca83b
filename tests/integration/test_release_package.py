"""The release as a package: altai-release (as epel-release) made by every run of a layout that asks for it,
holding the .repo file (its keys read from /etc/pki/rpm-gpg) and the keys, byte-reproducible, a new
Release when its content changes; and the installer's two lines: install it from its URL, then the packages."""

from __future__ import annotations

import os
import subprocess

from altai_testlib import ROOT, build, dnf
from rpmtools import base_os_packages, make_key, make_repo, public_key, serve


def _enable(release) -> None:
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('dist = ".el6"\n', 'dist = ".el6"\nrelease_package = true\n', 1))


def test_every_run_makes_the_release_package_and_a_host_installs_from_it(release, state_dir, gnupghome, tmp_path):
    _enable(release)
    out = release["out"]
    www = tmp_path / "www"
    key = make_key(tmp_path / "base-gnupg", "Test Base OS Key")
    make_repo(www / "base", base_os_packages(tmp_path / "base-build", key))
    (www / "RPM-GPG-KEY-base").write_bytes(public_key(key))
    (www / "altai").symlink_to(out)
    with serve(www) as url:
        run = build(release, state_dir, gnupghome, "nova-fping", "--base-url", f"{url}/altai")
        assert run.returncode == 0, run.stderr
        package = next((out / "centos6").glob("altai-release-9.9-1.el6.noarch.rpm"))
        assert next((out / "centos6" / "SRPMS").glob("altai-release-9.9-1.el6.src.rpm"))
        listed = subprocess.run(["rpm", "-qlp", str(package)], capture_output=True, text=True).stdout.split()
        assert listed == [
            "/etc/pki/rpm-gpg/RPM-GPG-KEY-altai",
            "/etc/yum.repos.d/altai.repo",
            "/etc/yum/vars/altai_baseurl",
        ]
        # the installer's two lines: the release package from its URL, then the release's packages
        root = tmp_path / "installroot"
        reposdir = root / "etc" / "yum.repos.d"
        reposdir.mkdir(parents=True)
        (reposdir / "base.repo").write_text(
            f"[base]\nname=base\nbaseurl={url}/base/\ngpgcheck=1\ngpgkey={url}/RPM-GPG-KEY-base\n"
        )
        first = dnf(root, reposdir, "install", f"{url}/altai/centos6/{package.name}", "--nogpgcheck")
        assert first.returncode == 0, first.stdout + first.stderr
        installed = (reposdir / "altai.repo").read_text()
        assert "baseurl=$altai_baseurl/centos6/" in installed  # the same file for every release
        assert (root / "etc/yum/vars/altai_baseurl").read_text() == f"{url}/altai\n"
        assert "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-altai" in installed
        assert (root / "etc" / "pki" / "rpm-gpg" / "RPM-GPG-KEY-altai").is_file()
        # dnf reads gpgkey= file:// paths on the host: point them into the installroot, as / would be there
        (reposdir / "altai.repo").write_text(installed.replace("file:///etc/", f"file://{root}/etc/"))
        second = dnf(root, reposdir, "install", "nova-fping")
        assert second.returncode == 0, second.stdout + second.stderr
        assert (root / "usr" / "bin" / "nova-fping-api").is_file()


def test_the_release_package_is_reproducible_and_a_new_content_is_a_new_release(
    release, state_dir, gnupghome, tmp_path
):
    _enable(release)
    run = build(release, state_dir, gnupghome, "libaltai", "--base-url", "https://mirror.example/altai")
    assert run.returncode == 0, run.stderr
    first = next((release["out"] / "centos6").glob("altai-release-*.noarch.rpm"))
    # the install lines name a package the release holds, not the layout's first (nova-fping, not built)
    notes = (release["out"] / "RELEASE-NOTES.md").read_text()
    assert "    dnf install libaltai\n" in notes
    assert "dnf install nova-fping" not in notes
    again = {**release, "out": tmp_path / "again"}
    assert build(again, state_dir, gnupghome, "libaltai", "--base-url", "https://mirror.example/altai").returncode == 0
    second = next((again["out"] / "centos6").glob("altai-release-*.noarch.rpm"))
    header = ["rpm", "-qp", "--qf", "%{SHA256HEADER}"]
    assert (
        subprocess.run([*header, str(first)], capture_output=True, text=True).stdout
        == subprocess.run([*header, str(second)], capture_output=True, text=True).stdout
    )  # the same inputs: the same unsigned header (payload digest included)
    moved = build(release, state_dir, gnupghome, "libaltai", "--base-url", "https://other.example/altai")
    assert moved.returncode == 0, moved.stderr
    assert [p.name for p in (release["out"] / "centos6").glob("altai-release-*.noarch.rpm")] == [
        "altai-release-9.9-2.el6.noarch.rpm"
    ]


def test_a_host_whose_repo_file_was_edited_follows_the_next_release(release, state_dir, gnupghome, tmp_path):
    """altai.repo is %config(noreplace): once an operator touched it, N+1's package wrote altai.repo.rpmnew,
    `rpm -q altai-release` said N+1 while the host followed N, and `distro-sync` downgraded altai-release
    back to N. The .repo file is now the same for every release and the base URL a yum variable's file: an
    edited host follows N+1, and rpm tells the truth. Real dnf, scriptlets on."""
    import shutil

    from altai_testlib import LIB_SPEC, installed

    _enable(release)
    out, www = release["out"], tmp_path / "www"
    key = make_key(tmp_path / "base-gnupg", "Test Base OS Key")
    make_repo(www / "base", base_os_packages(tmp_path / "base-build", key))
    (www / "RPM-GPG-KEY-base").write_bytes(public_key(key))
    with serve(www) as url:
        assert build(release, state_dir, gnupghome, "libaltai", "--base-url", f"{url}/r1").returncode == 0
        shutil.copytree(out.resolve(), www / "r1")  # release N, at a URL of its own
        release["lib"].commit({"libaltai.spec": LIB_SPEC.replace("Release: 1%", "Release: 2%")})
        assert build(release, state_dir, gnupghome, "libaltai", "--base-url", f"{url}/r2").returncode == 0
        shutil.copytree(out.resolve(), www / "r2")  # release N+1
        root = tmp_path / "installroot"
        reposdir = root / "etc" / "yum.repos.d"
        reposdir.mkdir(parents=True)
        (reposdir / "base.repo").write_text(
            f"[base]\nname=base\nbaseurl={url}/base/\ngpgcheck=1\ngpgkey={url}/RPM-GPG-KEY-base\n"
        )
        first = dnf(root, reposdir, "install", f"{url}/r1/centos6/altai-release-9.9-1.el6.noarch.rpm", "--nogpgcheck")
        assert first.returncode == 0, first.stdout
        # the operator's edit (dnf of this test reads gpgkey= on the host: point it into the installroot)
        repo_file = reposdir / "altai.repo"
        repo_file.write_text(
            "# edited by the operator\n" + repo_file.read_text().replace("file:///etc/", f"file://{root}/etc/")
        )
        assert dnf(root, reposdir, "install", "libaltai").returncode == 0
        assert installed(root)["libaltai"] == "libaltai-1.2-1.el6.x86_64"

        take = dnf(root, reposdir, "install", f"{url}/r2/centos6/altai-release-9.9-2.el6.noarch.rpm")
        assert take.returncode == 0, take.stdout
        sync = dnf(root, reposdir, "--refresh", "distro-sync")
        assert sync.returncode == 0, sync.stdout
    now = installed(root)
    assert now["altai-release"] == "altai-release-9.9-2.el6.noarch"  # rpm -q tells the truth
    assert now["libaltai"] == "libaltai-1.2-2.el6.x86_64"  # and the host follows N+1
    assert (root / "etc/yum/vars/altai_baseurl").read_text() == f"{url}/r2\n"
    assert repo_file.read_text().startswith("# edited by the operator\n")
    assert not (reposdir / "altai.repo.rpmnew").exists()


def test_the_documented_first_install_on_a_host_without_the_base_os_works_as_written(
    release, state_dir, gnupghome, tmp_path
):
    """docs/release-tree.md's recipe, run by bash as written: the base repositories in the root, the gpg keys
    read from the root, no scriptlet (dnf --installroot as root would run them as the host's root)."""
    _enable(release)
    out, www = release["out"], tmp_path / "www"
    key = make_key(tmp_path / "base-gnupg", "Test Base OS Key")
    make_repo(www / "base", base_os_packages(tmp_path / "base-build", key))
    (www / "RPM-GPG-KEY-base").write_bytes(public_key(key))
    (www / "altai").symlink_to(out)
    doc = (ROOT / "docs" / "release-tree.md").read_text()
    block = doc.split("**Trying it on a machine without the base OS**", 1)[1].split("\n\n", 2)[1]
    script = "\n".join(line.strip() for line in block.splitlines())
    work = tmp_path / "host"
    work.mkdir()
    with serve(www) as url:
        run = build(release, state_dir, gnupghome, "nova-fping", "--base-url", f"{url}/altai")
        assert run.returncode == 0, run.stderr
        (work / "base.repo").write_text(
            f"[base]\nname=base\nbaseurl={url}/base/\ngpgcheck=1\ngpgkey={url}/RPM-GPG-KEY-base\n"
        )
        package = next((out / "centos6").glob("altai-release-*.noarch.rpm"))
        env = {**os.environ, "RELEASE_PACKAGE_URL": f"{url}/altai/centos6/{package.name}"}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env, capture_output=True)
    assert done.returncode == 0, done.stdout.decode()[-2000:] + done.stderr.decode()[-2000:]
    root = work / "root"
    assert (root / "usr" / "bin" / "nova-fping-api").is_file()
    installed = subprocess.run(
        ["rpm", "--root", str(root), "--dbpath", "/root/.rpmdb", "-q", "nova-fping", "altai-release"],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
