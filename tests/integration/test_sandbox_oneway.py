"""The sandbox is one way: a spec is hostile input, and whatever its sandbox could write is hostile too. Each
test is a reproduction from the second adversarial probe (issue 24): a spec that plants links where the host
writes or reads, hands over a foreign package, reads the host's environment, forks without end, or prints
without end. The host must never follow, trust or swallow it; each test checks the host side."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from altai_testlib import (
    TOOLS,
    add_package,
    assert_one_line_error,
    build,
    build_argv,
    built,
    hostile,
    logs,
    packages_and_keys,
    peak_rss_mib,
    run_tool,
    spec,
)


@pytest.fixture
def host_file() -> Iterator[Path]:
    """A file of the host at a path the sandbox can also write at (its /tmp is a tmpfs of its own): a link the
    spec plants to that path names this file once the host follows it."""
    path = Path("/tmp") / f"altai-victim-{uuid.uuid4().hex}"
    path.write_text("the host's file\n")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def describe(srpm: Path) -> str:
    query = ["rpm", "-qp", "--qf", "%{DESCRIPTION}", str(srpm)]
    return subprocess.run(query, capture_output=True, text=True, check=True).stdout


# -- 1. the host writes any file --------------------------------------------------------------------------


@pytest.mark.parametrize("planted", ["payload.txt", "hostile-1.tar.gz"])
def test_link_planted_in_sources_does_not_make_the_host_write(make_repo, tmp_path, host_file, planted):
    """The spec links a Source (a file of the repository, or the tarball we pack) to a host file while it is
    parsed: the host writes the sources into a directory the sandbox sees read-only, so the link cannot be
    made and the host file keeps its bytes and its time."""
    before = host_file.stat()
    plant = f"%global x %(ln -sf {host_file} /builddir/build/SOURCES/{planted} 2>/dev/null; echo y)"
    repo = make_repo({"hostile.spec": hostile(f"Source1: payload.txt\n{plant}"), "payload.txt": "repo's\n"})
    run = run_tool("git2srpm.py", "--outdir", str(tmp_path / "out"), str(repo.path))
    assert host_file.read_text() == "the host's file\n"
    assert (host_file.stat().st_mtime_ns, host_file.stat().st_size) == (before.st_mtime_ns, before.st_size)
    srpm = built(run)
    listing = subprocess.run(["rpm", "-qpl", str(srpm)], capture_output=True, text=True, check=True).stdout.split()
    assert sorted(listing) == ["hostile-1.tar.gz", "hostile.spec", "payload.txt"]


# -- 2. a foreign RPM, 3. a foreign SRPM --------------------------------------------------------------------


def test_link_handed_over_as_a_built_rpm_is_refused(release, state_dir, gnupghome, make_repo, host_file):
    """%install links an extra 'RPM' to a host file: the build's results are opened without following links,
    so the run stops with one line naming the result, and nothing is published."""
    install = f"mkdir -p /builddir/build/RPMS/noarch\nln -s {host_file} /builddir/build/RPMS/noarch/zz-1-1.noarch.rpm"
    repo = make_repo({"hostile.spec": hostile(install=install), "README": "hi\n"})
    add_package(release, "hostile", repo.path)
    run = build(release, state_dir, gnupghome, "hostile")
    assert_one_line_error(run, "hostile", "RPMS/noarch/zz-1-1.noarch.rpm", "a symbolic link, not a file: refused")
    assert packages_and_keys(release["out"]) == []


def test_rpm_of_another_package_handed_over_is_refused(release, state_dir, gnupghome, make_repo):
    """%install makes a real package of another name beside its own: it is not a package of this spec, so the
    run publishes nothing (the check the koji builder already made, now every builder's)."""
    intruder = base64.b64encode(hostile(name="intruder").replace("%{?dist}", "").encode()).decode()
    install = textwrap.dedent(f"""\
        mkdir -p /tmp/i/SPECS /tmp/i/SOURCES/intruder-1
        echo {intruder} | base64 -d > /tmp/i/SPECS/intruder.spec
        tar -C /tmp/i/SOURCES -czf /tmp/i/SOURCES/intruder-1.tar.gz intruder-1
        rpmbuild --define "_topdir /tmp/i" --define "_rpmdir /builddir/build/RPMS" -bb /tmp/i/SPECS/intruder.spec""")
    repo = make_repo({"hostile.spec": hostile(install=install), "README": "hi\n"})
    add_package(release, "hostile", repo.path)
    run = build(release, state_dir, gnupghome, "hostile")
    assert_one_line_error(run, "hostile: rpmbuild returned intruder-1-1.noarch.rpm", "not a package of hostile-1-1")
    assert packages_and_keys(release["out"]) == []


def test_link_handed_over_as_the_srpm_is_refused(make_repo, tmp_path, host_file):
    """While it is parsed, the spec replaces the SRPM rpmbuild -bs will write by a link to a host path (which
    rpmbuild then writes through, inside the sandbox): the host refuses the link instead of printing it."""
    plant = f"%global x %(ln -sf {host_file} /builddir/build/SRPMS/hostile-1-1.src.rpm 2>/dev/null; echo y)"
    repo = make_repo({"hostile.spec": hostile(plant).replace("%{?dist}", ""), "README": "hi\n"})
    out = tmp_path / "out"
    run = run_tool("git2srpm.py", "--outdir", str(out), str(repo.path))
    assert_one_line_error(run, "SRPMS/hostile-1-1.src.rpm", "a symbolic link, not a file: refused")
    assert not out.exists() or not any(out.iterdir())
    assert host_file.read_text() == "the host's file\n"


# -- 4. the host reads any file (rpmautospec's result) ------------------------------------------------------


def test_link_handed_over_as_rpmautospecs_result_is_refused(make_repo, tmp_path, host_file):
    """With %autorelease, rpmautospec writes the processed spec into a directory the sandbox can write; the
    spec, parsed there, replaces that result by a link to a host path before it is written. The host must
    not read the host file through it."""
    host_file.write_text("Name: the host's secret\n")
    # the helper's last argument is the result's path; the link goes there before rpmautospec writes it
    plant = f'%global x %(ln -sf {host_file} "$(xargs -0 -n 1 </proc/$PPID/cmdline | tail -n 1)"; echo y)'
    text = hostile(plant).replace("Release:        1%{?dist}", "Release:        %autorelease")
    repo = make_repo({"hostile.spec": text, "README": "hi\n"})
    run = run_tool("git2srpm.py", "--outdir", str(tmp_path / "out"), str(repo.path))
    assert_one_line_error(run, "rpmautospec", "hostile.spec: a symbolic link, not a file: refused")
    assert "the host's secret" not in run.stderr + run.stdout


# -- 5. the host's environment --------------------------------------------------------------------------


def test_host_environment_does_not_reach_the_sandbox(make_repo, tmp_path):
    """bubblewrap's PID 1 keeps the environment it was started with, and /proc/1/environ is readable in the
    sandbox: the sandbox is started from an empty environment."""
    probe = "%global leak %(for f in /proc/1/environ /proc/self/environ; do xargs -0 <$f; done 2>&1)"
    text = hostile(probe).replace("A test package.", "%{leak}")
    repo = make_repo({"hostile.spec": text, "README": "hi\n"})
    value = uuid.uuid4().hex
    run = run_tool("git2srpm.py", "--outdir", str(tmp_path / "out"), str(repo.path), env={"CI_SECRET_CANARY": value})
    description = describe(built(run))
    assert "PATH=" in description  # the probe read the environments: only the sandbox's own
    assert value not in description


# -- 6. limits ------------------------------------------------------------------------------------------


def test_spec_forking_past_the_process_limit_is_stopped(release, state_dir, gnupghome, make_repo):
    """200 processes at once while the spec is parsed, with the layout's limit at 64: the pids cgroup refuses
    the forks past it, and the run says which limit stopped which package."""
    fork = "%global x %(for i in $(seq 200); do sleep 3 & done; wait; echo y)"
    repo = make_repo({"hostile.spec": hostile(fork), "README": "hi\n"})
    add_package(release, "hostile", repo.path)
    release["layout"].write_text(release["layout"].read_text() + "\n[sandbox]\nprocesses = 64\n")
    run = build(release, state_dir, gnupghome, "hostile")
    assert_one_line_error(run, "hostile", "stopped at its limit of 64 processes")
    assert packages_and_keys(release["out"]) == []


def test_build_over_the_memory_limit_is_stopped(release, state_dir, gnupghome, make_repo):
    grab = "python3 -c 'b = bytearray(600 * 1024 * 1024); b[::4096] = b\"x\" * len(b[::4096])'"
    repo = make_repo({"hostile.spec": hostile(build_step=grab), "README": "hi\n"})
    add_package(release, "hostile", repo.path)
    release["layout"].write_text(release["layout"].read_text() + "\n[sandbox]\nmemory_mib = 256\n")
    run = build(release, state_dir, gnupghome, "hostile")
    assert_one_line_error(run, "hostile: build failed in rpmbuild", "stopped at its memory limit of 256 MiB")
    # the control: with the default limit the same build passes
    release["layout"].write_text(release["layout"].read_text().replace("memory_mib = 256", ""))
    assert build(release, state_dir, gnupghome, "hostile").returncode == 0


def test_build_over_the_file_size_and_time_limits_is_stopped(release, state_dir, gnupghome, make_repo):
    repo = make_repo({"hostile.spec": hostile(build_step="head -c 5M /dev/zero > big.bin"), "README": "hi\n"})
    add_package(release, "hostile", repo.path)
    layout = release["layout"].read_text()
    release["layout"].write_text(layout + "\n[sandbox]\nfile_size_mib = 1\n")
    run = build(release, state_dir, gnupghome, "hostile")
    assert_one_line_error(run, "hostile: build failed in rpmbuild", "stopped at its file size limit of 1 MiB")
    repo.commit({"hostile.spec": hostile(build_step="sleep 60")})
    release["layout"].write_text(layout + "\n[sandbox]\nbuild_seconds = 2\n")
    run = build(release, state_dir, gnupghome, "hostile")
    assert_one_line_error(run, "hostile: build failed in rpmbuild", "stopped after 2s, the sandbox's time limit")


def test_sandbox_limits_in_the_layout_are_checked(release, state_dir, gnupghome):
    release["layout"].write_text(release["layout"].read_text() + "\n[sandbox]\nprocesses = 2\n")
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, "sandbox.processes: expected an integer from 16 to 1000000, found int 2")
    release["layout"].write_text(release["layout"].read_text().replace("processes = 2", "pids = 20"))
    assert_one_line_error(build(release, state_dir, gnupghome, "libaltai"), "sandbox.pids: unknown key")


# -- 7. output ------------------------------------------------------------------------------------------


def test_spec_printing_without_end_costs_the_host_a_bounded_amount(make_repo, tmp_path):
    """1.5 GB on stderr while the spec is parsed: the host keeps its head and tail, not the whole."""
    shout = "%global x %(head -c 1500M /dev/zero | tr '\\0' 'x' >&2; echo y)"
    repo = make_repo({"hostile.spec": hostile(shout), "README": "hi\n"})
    argv = [sys.executable, str(TOOLS / "git2srpm.py"), "--outdir", str(tmp_path / "out"), str(repo.path)]
    status, stderr, peak = peak_rss_mib(argv, tmp_path)
    assert status == 0, stderr[-2000:]
    assert peak < 200, f"git2srpm peaked at {peak} MiB"


def test_build_log_of_a_build_printing_without_end_is_bounded(release, state_dir, gnupghome, make_repo, tmp_path):
    loud = "head -c 1000M /dev/zero | tr '\\0' 'x'; echo; echo THE-END"
    repo = make_repo({"hostile.spec": hostile(build_step=loud), "README": "hi\n"})
    add_package(release, "hostile", repo.path)
    argv = build_argv(release, state_dir, "hostile")
    status, stderr, peak = peak_rss_mib(argv, tmp_path, {"GNUPGHOME": str(gnupghome)})
    assert status == 0, stderr[-2000:]
    assert peak < 200, f"build.py peaked at {peak} MiB"
    log = logs(release["out"]) / "hostile" / "build.log"
    assert os.path.getsize(log) < 5 * 1024 * 1024
    text = log.read_text()
    assert "bytes of output cut here" in text
    assert "THE-END" in text


# -- what a result is: the header reader against the rpm bindings, and the checks ---------------------------


def test_package_identity_agrees_with_the_rpm_bindings(make_repo, tmp_path):
    """read_identity reads the header's index itself (the bindings cost a third of a small git2srpm): on a
    source and a binary package, with and without an epoch, it says what the bindings say; a file cut short
    or not a package is an error, never a guess."""
    from altai_release.core.errors import AltaiError
    from altai_release.rpm.readback import read_header, read_nevra
    from altai_release.rpm.rpmheader import read_identity
    from altai_release.specfile.rpmbuild import INNER_TOPDIR, Rpmbuild

    for extra in ("", "Epoch: 3"):
        repo = make_repo({"hello.spec": spec(extra=extra), "README": "hi\n"})
        srpm = built(run_tool("git2srpm.py", "--outdir", str(tmp_path / f"out{extra[:1]}"), str(repo.path)))
        work = tmp_path / f"rebuild{extra[:1]}"
        rpmbuild = Rpmbuild(work / "top", inputs={work / "in": INNER_TOPDIR / "SRPMS"})
        rpmbuild.prepare()
        (work / "in" / srpm.name).write_bytes(srpm.read_bytes())
        with rpmbuild.writable_topdir():
            (rpm,) = rpmbuild.rebuild(work / "in" / srpm.name, work / "results")
        for package in (srpm, rpm):
            identity = read_identity(package)
            hdr = read_header(package)
            assert identity.nevra == read_nevra(package)
            assert identity.source == bool(hdr["sourcepackage"])
            assert identity.sourcerpm == (hdr["sourcerpm"] or "")
        assert read_identity(rpm).sourcerpm == srpm.name
        assert read_identity(srpm).nevra.epoch == (3 if extra else None)
    cut = tmp_path / "cut.rpm"
    cut.write_bytes(srpm.read_bytes()[:200])
    with pytest.raises(AltaiError, match="not an rpm package"):
        read_identity(cut)
    cut.write_bytes(b"#!/bin/sh\n" * 20)
    with pytest.raises(AltaiError, match="not an rpm package"):
        read_identity(cut)


def test_srpm_of_another_spec_is_refused(make_repo, tmp_path):
    from altai_release.core.errors import BuildError, InputError
    from altai_release.rpm.nevra import Nevra
    from altai_release.sandbox.output import check_binaries, check_srpm

    repo = make_repo({"hello.spec": spec(), "README": "hi\n"})
    srpm = built(run_tool("git2srpm.py", "--outdir", str(tmp_path / "out"), str(repo.path)))
    check_srpm(srpm, Nevra("hello", None, "1.0", "1", "src"), "hello.spec")  # the control: it is the spec's
    with pytest.raises(InputError, match=r"wrote hello-1.0-1.src.rpm \(hello-1.0-1.src\), not the spec's"):
        check_srpm(srpm, Nevra("hello", None, "1.0", "2", "src"), "hello.spec")
    with pytest.raises(BuildError, match="returned hello-1.0-1.src.rpm .* not a package of hello-1.0-1.src.rpm"):
        check_binaries([srpm], srpm, ["hello"], "hello: rpmbuild")  # a source package is no binary


def test_without_a_cgroup_the_address_space_bounds_each_process(monkeypatch):
    """Where no cgroup can be made (no pids or memory controller for us), memory falls back to RLIMIT_AS."""
    from altai_release.core.errors import SandboxLimitError
    from altai_release.core.limits import SandboxLimits
    from altai_release.sandbox import bubblewrap as sandbox
    from altai_release.sandbox.cgroups import SandboxCgroup

    grab = ["/usr/bin/python3", "-c", "b = bytearray(600 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"]
    box = sandbox.Sandbox(limits=SandboxLimits(memory=256 * 1024 * 1024))
    with pytest.raises(SandboxLimitError, match="grab: stopped at its memory limit of 256 MiB"):
        box.run(grab, "grab", 60)  # with the cgroup: killed, and said
    monkeypatch.setattr(SandboxCgroup, "create", classmethod(lambda cls, limits: None))
    refused = box.run(grab, "grab", 60)
    assert refused.returncode != 0
    assert "MemoryError" in refused.stderr
    assert box.run(["/usr/bin/python3", "-c", "b = bytearray(16 * 1024 * 1024)"], "small", 60).returncode == 0


# -- 8. the sandbox owns nothing of the host (issue 37) -------------------------------------------------


def test_the_sandbox_user_is_an_unprivileged_host_uid(tmp_path):
    """What a step writes belongs to an unprivileged host uid (a setuid file it leaves is nobody's), and a
    root-only file in a directory it sees stays unreadable to it."""
    from altai_release.sandbox.bubblewrap import BUILD_UID, Sandbox, host_id
    from altai_release.sandbox.scratch import give_to_sandbox

    shown = tmp_path / "shown"
    shown.mkdir()
    (shown / "root-only").write_text("secret\n")
    (shown / "root-only").chmod(0o600)
    out = tmp_path / "out"
    out.mkdir()
    give_to_sandbox(out)
    script = f"cp /usr/bin/id {out}/suid && chmod 4755 {out}/suid; cat {shown}/root-only; id -u"
    done = Sandbox(readonly=[shown], writable=[out]).run(["/bin/sh", "-c", script], "probe", 30)
    assert "secret" not in done.stdout
    assert "Permission denied" in done.stderr
    assert done.stdout.split() == [str(BUILD_UID)]
    suid = (out / "suid").stat()  # the tests run as root, as CI does
    assert suid.st_uid == host_id(BUILD_UID)
    assert suid.st_uid != 0


def test_a_step_that_fills_its_disk_stops_at_its_quota(release, state_dir, gnupghome, make_repo):
    """Five files of 300 MB (`fallocate`, instant) against a quota of 512 MiB: the build stops with no space
    in its own tmpfs, and the host's disk never held them."""
    fill = "for i in 1 2 3 4 5; do fallocate -l 300M big$i.bin || exit 1; done"
    repo = make_repo({"hostile.spec": hostile(build_step=fill), "README": "hi\n"})
    add_package(release, "hostile", repo.path)
    release["layout"].write_text(release["layout"].read_text() + "\n[sandbox]\ndisk_mib = 512\nmemory_mib = 2048\n")
    free_before = os.statvfs(release["out"].parent).f_bavail
    run = build(release, state_dir, gnupghome, "hostile")
    assert_one_line_error(run, "hostile: build failed in rpmbuild")
    assert "No space left on device" in (logs(release["out"]) / "hostile" / "build.log").read_text()
    assert os.statvfs(release["out"].parent).f_bavail > free_before - (256 << 20) // os.statvfs("/").f_frsize
