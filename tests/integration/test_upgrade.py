"""From one release to the next, as an operator goes with Debian's real dnf: release N (nova-fping,
instance-notifier, a third-party fping, one more package) installed from the served tree with gpgcheck on;
release N+1 upgrades nova-fping (its config file changed), deliberately downgrades fping, drops a package;
`dnf distro-sync` + the removal of what the release dropped leave exactly N+1's packages, keep the
operator's edited config (`.rpmnew` beside it), and a newer fping in the base OS does not undo the held
downgrade. Release notes and index.html are checked on the same two releases."""

from __future__ import annotations

import html.parser
import json
import re
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from altai_testlib import INSTANCE_NOTIFIER_VR, NOVA_FPING_VR, ROOT, GitRepo, installed, run_tool, shipped_buildroot
from altai_testlib import dnf as real_dnf
from rpmtools import base_os_packages, build_rpm, make_key, make_repo, public_key, serve


def dnf(root: Path, reposdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # the installroot has no shell, /sbin/chkconfig or /sbin/service for the EL6 scriptlets to run with:
    # they are checked in test_targets (rpm -qp --scripts); here rpm moves the files only
    return real_dnf(root, reposdir, "--setopt=tsflags=noscripts", *args)


EXTRA_SPEC = """\
Name: altai-extra
Version: 1.0
Release: 1%{?dist}
Summary: A package that the next release drops
License: MIT
Source0: %{name}-%{version}.tar.gz
BuildArch: noarch
%description
Extra.
%prep
%setup -q
%install
mkdir -p %{buildroot}/usr/share/altai-extra
cp README %{buildroot}/usr/share/altai-extra/
%files
/usr/share/altai-extra
"""


def layout_text(tmp: Path, repo: Path, extra: Path | None, upstream: str, key_file: Path, fping: str) -> str:
    text = f"""\
        [release]
        name = "altai"
        version = "VERSION"
        dist = ".el6"
        mock_chroot = "epel-6-x86_64"
        macros = ["{ROOT}/repo-layout/macros/el6.macros"]
        templates = "{ROOT}/repo-layout/templates"
        release_package = true

        [keys.altai]
        id = "Altai Test Release Key"
        development = true

        [keys.epel]
        id = "Upstream EPEL Test Key"
        file = "{key_file}"

        [repositories.centos6]
        path = "centos6"
        signed_by = "altai"
        content = "own"
        sources = "centos6-srpms"

        [repositories.centos6-srpms]
        path = "centos6/SRPMS"
        signed_by = "altai"
        content = "sources"

        [repositories.epel]
        path = "deps/epel"
        signed_by = "epel"
        content = "upstream"

        [upstreams.epel]
        url = "{upstream}"
        key = "epel"
        repository = "epel"
        packages = ["fping = {fping}"]
        allow_downgrade = ["fping = 3.10-1.el6"]
        downgrade_reason = "fping 3.13 reports IPv6 instances dead"

        [packages.nova-fping]
        git = "{repo}"
        subdir = "src/nova-fping"
        spec = "specs/nova-fping.spec"
        repository = "centos6"

        [packages.instance-notifier]
        git = "{repo}"
        subdir = "src/instance-notifier"
        spec = "specs/instance-notifier.spec"
        repository = "centos6"
        """
    if extra is not None:
        text += f"""
        [packages.altai-extra]
        git = "{extra}"
        repository = "centos6"
        """
    return textwrap.dedent(text) + "\n" + shipped_buildroot()  # instance-notifier needs mock: nova-fping in its root


def manifest_nevras(out: Path) -> dict[str, str]:
    packages = json.loads((out / "manifest.json").read_text())["packages"]
    return {
        p["name"]: f"{p['name']}-{p['epoch'] + ':' if p['epoch'] else ''}{p['version']}-{p['release']}.{p['arch']}"
        for p in packages
        if p["arch"] != "src"
    }


@pytest.fixture(scope="module")
def two_releases(tmp_path_factory: pytest.TempPathFactory, state_dir: Path) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("upgrade")
    gnupghome = tmp / "gnupg-empty"
    gnupghome.mkdir(mode=0o700)
    # our repository as a release engineer has it: a clone in which the next version is committed
    clone = tmp / "altai"
    subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(clone)], check=True)
    repo = GitRepo(clone)
    extra = GitRepo(tmp / "extra")
    extra.path.mkdir()
    extra.git("init", "-q", "-b", "main")
    extra.commit({"altai-extra.spec": EXTRA_SPEC, "README": "extra\n"})
    # upstream (EPEL stand-in) with two fping versions, and the base OS with what our packages require
    upstream_key = make_key(tmp / "upstream-gnupg", "Upstream EPEL Test Key")
    base_key = make_key(tmp / "base-gnupg", "Test Base OS Key")
    work = tmp / "rpms"
    www = tmp / "www"
    fpings = [build_rpm(work, "fping", v, "1.el6", signer=upstream_key) for v in ("3.10", "3.13")]
    make_repo(www / "epel", fpings)
    base = base_os_packages(work, base_key, with_fping=False)
    make_repo(www / "base", base)
    (www / "RPM-GPG-KEY-base").write_bytes(public_key(base_key))
    key_file = tmp / "RPM-GPG-KEY-EPEL-TEST"
    key_file.write_bytes(public_key(upstream_key))
    out = tmp / "out"
    (www / "altai").symlink_to(out)
    layout = tmp / "altai.toml"
    env = {"GNUPGHOME": str(gnupghome)}
    with serve(www) as url:

        def release(version: str, with_extra: bool, fping: str) -> None:
            text = layout_text(tmp, clone, extra.path if with_extra else None, f"{url}/epel", key_file, fping)
            layout.write_text(text.replace("VERSION", version))
            run = run_tool(
                "build.py",
                "--all",
                "--layout",
                str(layout),
                "--out",
                str(out),
                "--state-dir",
                str(state_dir),
                "--base-url",
                f"{url}/altai",
                "--builder",
                "mock",
                env=env,
            )
            assert run.returncode == 0, run.stderr

        reposdir = tmp / "yum.repos.d"
        reposdir.mkdir()
        (reposdir / "base.repo").write_text(
            f"[base]\nname=base\nbaseurl={url}/base/\ngpgcheck=1\ngpgkey={url}/RPM-GPG-KEY-base\n"
        )
        root = tmp / "installroot"
        # release N, installed as the installer does
        release("1.0.2", True, "3.13-1.el6")
        first = out.resolve()
        (reposdir / "altai.repo").write_text((out / "altai.repo").read_text())
        proc = dnf(root, reposdir, "install", "nova-fping", "instance-notifier", "fping", "altai-extra")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        conf = root / "etc/nova-fping/nova-fping.conf"
        conf.write_text(conf.read_text() + "# edited by the operator\n")
        # release N+1: nova-fping upgraded (and its config file changed), fping held back, altai-extra dropped
        spec = clone / "specs/nova-fping.spec"
        text = re.sub(r"(?m)^Release:(\s*)\d+%", r"Release:\g<1>1%", spec.read_text())
        text = re.sub(r"(?m)^Version:(\s*)\S+", r"Version:\g<1>0.2.1", text)
        entry = "* Wed Nov 25 2026 Altai Release Team <release@altai.example> - 0.2.1-1\n- Bounded fping. <b>x</b>\n\n"
        spec.write_text(text.replace("%changelog\n", "%changelog\n" + entry))
        shipped = clone / "src/nova-fping/etc/nova-fping.conf"
        shipped.write_text(shipped.read_text() + "# a new default in 0.2.1\n")
        repo.commit({}, "nova-fping 0.2.1")
        release("1.0.3", False, "3.10-1.el6")
        yield {
            "url": url,
            "out": out,
            "first": first,
            "root": root,
            "reposdir": reposdir,
            "www": www,
            "work": work,
            "base": base,
            "base_key": base_key,
        }


def test_distro_sync_takes_an_installation_to_exactly_the_next_release(two_releases):
    out, root, reposdir = two_releases["out"], two_releases["root"], two_releases["reposdir"]
    before = installed(root)
    assert before["nova-fping"] == f"nova-fping-{NOVA_FPING_VR}.noarch"
    assert before["fping"] == "fping-3.13-1.el6.noarch"
    # what the upgrade guide says an operator runs: the next release's package, then distro-sync
    package = next((out / "centos6").glob("altai-release-1.0.3-1.el6.noarch.rpm"))
    take = dnf(root, reposdir, "install", f"{two_releases['url']}/altai/centos6/{package.name}")
    assert take.returncode == 0, take.stdout + take.stderr
    installed_repo = (root / "etc" / "yum.repos.d" / "altai.repo").read_text()
    assert "baseurl=$altai_baseurl/centos6/" in installed_repo  # the release a host follows is a yum variable's
    assert (root / "etc/yum/vars/altai_baseurl").read_text() == f"{two_releases['url']}/altai\n"
    # (dnf --installroot reads gpgkey= file:// paths on this host: pointed into the installroot)
    (reposdir / "altai.repo").write_text(installed_repo.replace("file:///etc/", f"file://{root}/etc/"))
    sync = dnf(root, reposdir, "distro-sync")
    assert sync.returncode == 0, sync.stdout + sync.stderr
    extras = dnf(root, reposdir, "list", "--extras", "-q")
    dropped = [line.split()[0].rsplit(".", 1)[0] for line in extras.stdout.splitlines()[1:] if line.strip()]
    assert dropped == ["altai-extra"]
    removal = dnf(root, reposdir, "remove", *dropped)
    assert removal.returncode == 0, removal.stdout + removal.stderr
    now = installed(root)
    release = manifest_nevras(out)
    ours = {name: nevra for name, nevra in now.items() if name in manifest_nevras(two_releases["first"])}
    assert ours == {name: release[name] for name in ("nova-fping", "instance-notifier", "fping", "altai-release")}
    assert now["altai-release"] == "altai-release-1.0.3-1.el6.noarch"  # the release the host follows
    assert "altai-extra" not in now
    # the operator's edit stays; the new default waits beside it
    conf = root / "etc/nova-fping/nova-fping.conf"
    assert "# edited by the operator" in conf.read_text()
    assert "# a new default in 0.2.1" in (root / "etc/nova-fping/nova-fping.conf.rpmnew").read_text()

    # a newer fping appears in the base OS: the release's priority keeps the deliberate downgrade
    newer = build_rpm(two_releases["work"], "fping", "9.9", "1", signer=two_releases["base_key"])
    make_repo(two_releases["www"] / "base", [newer])
    upgrade = dnf(root, reposdir, "upgrade", "--refresh")
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert installed(root)["fping"] == "fping-3.10-1.el6.noarch"
    # and it is the priority that holds it: without it, dnf takes the newer fping
    check = dnf(root, reposdir, "upgrade", "--assumeno", "--setopt=altai-epel.priority=99")
    assert "fping" in check.stdout, check.stdout
    assert "9.9-1" in check.stdout, check.stdout


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.links += [value for name, value in attrs if name in ("href", "src") and value]


def test_release_notes_say_what_changed_and_link_into_the_tree(two_releases):
    out = two_releases["out"]
    notes = (out / "RELEASE-NOTES.md").read_text()
    assert "# altai 1.0.3" in notes
    assert "Changes against altai 1.0.2" in notes
    # altai-release 1.0.2 -> 1.0.3, nova-fping, and instance-notifier, built against nova-fping, rebuilt for it
    assert "0 added, 1 removed, 3 upgraded, 1 downgraded, 0 rebuilt." in notes
    assert f"**nova-fping**.noarch (centos6): {NOVA_FPING_VR} → 0.2.1-1.el6" in notes
    notifier = f"**instance-notifier**.noarch (centos6): {INSTANCE_NOTIFIER_VR} → {INSTANCE_NOTIFIER_VR}.1"
    assert notifier in notes
    assert "  - reason: rebuilt for nova-fping 0.2.1-1.el6\n" in notes
    # a package's %changelog is its own words: shown, never HTML or Markdown of its making
    assert "Altai Release Team (release@altai.example): Bounded fping. \\<b\\>x\\</b\\>" in notes
    assert "&lt;" not in notes  # plain text: no HTML entities
    assert "**fping**.noarch (epel): 3.13-1.el6 → 3.10-1.el6" in notes
    assert "reason: fping 3.13 reports IPv6 instances dead" in notes
    assert "**altai-extra**.noarch (centos6): 1.0-1.el6" in notes
    assert "[build log](logs/nova-fping/build.log)" in notes
    # the page: no external asset, and every link is a file of this release
    page = _Links()
    page.feed((out / "index.html").read_text())
    assert page.links
    assert not page.tags & {"script", "img", "link", "iframe"}
    for link in page.links:
        assert "://" not in link, link
        assert not link.startswith(("/", "..")), link
        assert (out / link).is_file(), link
    assert {"manifest.json", "RELEASE-NOTES.md", "logs/nova-fping/build.log"} <= set(page.links)
    # what the release says about itself: its SBOM, and the signed provenance of each package it built
    assert "metadata/altai-1.0.3.cdx.json" in page.links
    assert "metadata/provenance/nova-fping-0.2.1-1.el6.noarch.rpm.intoto.jsonl" in page.links
    assert "[metadata/altai-1.0.3.cdx.json](metadata/altai-1.0.3.cdx.json)" in notes
    # the page and the notes name the release package to install, its Release included
    assert f"dnf install {two_releases['url']}/altai/centos6/altai-release-1.0.3-1.el6.noarch.rpm" in notes
    # tools/build.py --notes prints the same Markdown against any earlier manifest
    layout = out.parent / "altai.toml"
    run = run_tool(
        "build.py", "--layout", str(layout), "--out", str(out), "--notes", str(two_releases["first"] / "manifest.json")
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n", 3)[3] == notes.split("\n", 3)[3]  # the same but for the date line
