"""Package code never runs as the host's root (issue 37, reproduction 1): a package whose `%post -p` is a
static binary that leaves the installroot's chroot (mkdir, chroot, chdir .. x64, chroot .) and writes a
marker. `dnf --installroot` run by root ran it as the host's root; `--gate` and `--accept` run dnf in the
sandbox, as root of a user namespace of unprivileged ids, where the escape ends in the sandbox's own view."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from altai_testlib import ESCAPE_C, PWN_SPEC, build, gpg_agent_homes
from rpmtools import base_os_repo
from rpmtools import make_repo as make_yum_repo


def test_the_escape_works_outside_the_sandbox(tmp_path):
    """The control: in a chroot of the host's root, the binary leaves it and writes the marker as root."""
    marker = tmp_path / "escaped-marker"
    jail = tmp_path / "jail"
    jail.mkdir()
    (tmp_path / "esc.c").write_text(ESCAPE_C.replace("MARKER", f'"{marker}"'))
    subprocess.run(["gcc", "-static", "-O1", "-o", str(jail / "esc"), str(tmp_path / "esc.c")], check=True)
    code = "import os, sys; os.chroot(sys.argv[1]); os.execv('/esc', ['/esc'])"
    assert subprocess.run(["python3", "-c", code, str(jail)]).returncode == 0
    assert marker.read_text() == "uid 0\n"
    assert marker.stat().st_uid == 0


def test_gate_runs_no_scriptlet_as_the_hosts_root(release, make_repo, state_dir, gnupghome, tmp_path):
    marker = tmp_path / "escaped-marker"
    repo = make_repo(
        {"pwn.spec": PWN_SPEC.replace("MARKER_PATH", str(marker)), "esc.c": ESCAPE_C.replace("MARKER", f'"{marker}"')}
    )
    layout = release["layout"]
    layout.write_text(layout.read_text() + f'\n[packages.pwn]\ngit = "{repo.path}"\nrepository = "centos6"\n')
    base_repo = base_os_repo(tmp_path)
    agents_before = set(gpg_agent_homes(tmp_path))

    run = build(release, state_dir, gnupghome, "pwn", "--gate", "--base-repos", str(base_repo))
    assert run.returncode == 0, run.stderr
    assert "ok: dnf install of" in run.stderr
    assert not marker.exists(), marker.read_text()  # the escape reached the sandbox's view, not the host's
    # dnf's gpg-agents (librepo's repo_gpgcheck) ended with the sandbox
    assert set(gpg_agent_homes(tmp_path)) <= agents_before

    run = build(release, state_dir, gnupghome, "--accept", "--base-repos", str(base_repo), "--json")
    assert run.returncode == 0, run.stderr
    accepted = json.loads(run.stdout)
    assert accepted["ok"] is True
    assert any("dnf install of" in c for c in accepted["checks"])
    assert not marker.exists()

    # the same install through the wrapper shows that the scriptlet ran, and that its escape could not write
    from altai_release.release.check.dnf import DnfRoot

    reposdir = tmp_path / "repos"
    reposdir.mkdir()
    shutil.copyfile(base_repo, reposdir / "base.repo")
    published = (release["out"] / "centos6").resolve().as_uri()
    (reposdir / "pwn.repo").write_text(f"[pwn]\nname=pwn\nbaseurl={published}/\ngpgcheck=0\n")
    done = DnfRoot(tmp_path / "root", reposdir).install(["pwn"])
    assert done.returncode == 0, done.output
    assert "%post(pwn-1-1.el6.x86_64) scriptlet failed, exit status 7" in done.output, done.output
    assert not marker.exists()


def test_the_scriptlet_ran_as_nobody_of_the_host(tmp_path):
    """The wrapper dnf runs in: the scriptlet runs (rpm says its exit status), as root of the namespace, and
    what it writes in the installroot belongs to an unprivileged host uid."""
    from altai_release.release.check.dnf import DnfRoot
    from altai_release.sandbox.bubblewrap import HOST_ID_BASE

    work = tmp_path / "rpms"
    spec_dir = work / "SPECS"
    spec_dir.mkdir(parents=True)
    (spec_dir / "writer.spec").write_text(
        "Name: writer\nVersion: 1\nRelease: 1\nSummary: w\nLicense: MIT\nBuildArch: noarch\n%description\nw\n"
        "%install\nmkdir -p %{buildroot}/srv\n%post -p <lua>\n"
        'local f = io.open("/srv/written-by-post", "w"); f:write("post ran"); f:close()\n'
        "%files\n/srv\n"
    )
    subprocess.run(
        ["rpmbuild", "--quiet", "-bb", "--define", f"_topdir {work}", str(spec_dir / "writer.spec")],
        check=True,
        capture_output=True,
    )
    repo = make_yum_repo(tmp_path / "repo", list((work / "RPMS").rglob("*.rpm")))
    reposdir = tmp_path / "repos"
    reposdir.mkdir()
    (reposdir / "t.repo").write_text(f"[t]\nname=t\nbaseurl={repo.as_uri()}/\ngpgcheck=0\n")
    root = tmp_path / "root"
    done = DnfRoot(root, reposdir).install(["writer"])
    assert done.returncode == 0, done.output
    written = root / "srv" / "written-by-post"
    assert written.read_text() == "post ran"
    if os.geteuid() == 0:
        assert written.stat().st_uid == HOST_ID_BASE  # root of the namespace is nobody of the host
    shutil.rmtree(root)


UNMOUNT_PROC = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for flags in (0, 2):  # plain, and MNT_DETACH
    said = libc.umount2(b"/proc", flags)
    print("umount2", flags, said, os.strerror(ctypes.get_errno()) if said else "unmounted")
print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
"""


def test_the_installations_root_cannot_unmount_its_proc_to_reach_the_hosts():
    """Acceptance runs dnf (and so every scriptlet) as root of a user namespace: its own /proc lies over the
    host's, which the kernel needs to be there. Unmounted, the host's would show every process's command
    line; the command's namespace has no power over the mounts, so it stays covered."""
    from altai_release.sandbox.bubblewrap import Sandbox
    from altai_release.sandbox.userns import mapped_userns

    with mapped_userns() as namespaces:
        box = Sandbox(userns=namespaces)
        done = box.run(["/usr/bin/python3", "-c", UNMOUNT_PROC], "unmount /proc", 60)
        as_root = box.run(["/usr/bin/id", "-u"], "id", 60)
    assert as_root.stdout.strip() == "0"  # root of its namespace: rpm may chown and chroot
    assert "umount2 0 -1 Operation not permitted" in done.stdout, done.stdout + done.stderr
    assert "umount2 2 -1 Operation not permitted" in done.stdout
    pids = [int(p) for p in done.stdout.split("pids [", 1)[1].split("]", 1)[0].split(",")]
    assert os.getpid() not in pids  # the sandbox's own PID namespace, not the host's
    assert max(pids) < 100
