"""Real mock (6.7, from ../shared/upstream or the host's), offline, on the host-derived base, run as root of a
user namespace of unprivileged ids: a library and the application built against it, what a build root could
not be made of, a failing build, two builds at once, a kill in the middle, the root cache, the chroot a
package of the release escapes from, and mock refusing its config. `make test` installs mock
(scripts/setup-mock.sh); .ci/run fails when these tests were skipped."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from altai_release.builders import mock_unavailable
from altai_release.builders.mockinstall import find_mock
from altai_testlib import (
    ESCAPE_C,
    LIB_SPEC,
    PWN_SPEC,
    assert_one_line_error,
    build,
    build_argv,
    chained,
    logs,
    tree,
)

_WHY = mock_unavailable()
if _WHY is not None and os.environ.get("CI"):  # .ci/run: these tests must run, never be skipped
    raise RuntimeError(f"CI: the real-mock tests cannot run: {_WHY}; scripts/setup-mock.sh installs mock")
pytestmark = pytest.mark.skipif(_WHY is not None, reason=f"no mock to run: {_WHY}")


def mock_build(release, state_dir, gnupghome, *args, env=None):
    return build(release, state_dir, gnupghome, *args, "--builder", "mock", env=env)


def payload(rpm: Path, query: str = "%{PAYLOADDIGEST}") -> str:
    return subprocess.run(
        ["rpm", "-qp", "--nosignature", "--qf", query, str(rpm)], capture_output=True, text=True, check=True
    ).stdout


def file_of(rpm: Path, name: str) -> bytes:
    cpio = subprocess.run(["rpm2cpio", str(rpm)], capture_output=True, check=True).stdout
    done = subprocess.run(["cpio", "-i", "--quiet", "--to-stdout", f".{name}"], input=cpio, capture_output=True)
    return done.stdout


def test_the_application_is_built_against_the_library_of_the_same_run(release, state_dir, gnupghome):
    """altai-app's %build reads a file only libaltai-devel installs: mock installs the libaltai this run
    built (its run repository), in a chroot of the host-derived base; the run says what that base is."""
    release["lib"].commit({"lib.txt": "libaltai 1.2\n"})
    chained(release, "cat /usr/include/libaltai.h > app.txt")
    run = mock_build(release, state_dir, gnupghome, "libaltai", "altai-app", "--json", "--verbose")
    assert run.returncode == 0, run.stderr
    assert "build root: the host-derived base: this host's own userland" in run.stderr
    assert "NOT CentOS 6" in run.stderr
    assert {r["builder"] for r in json.loads(run.stdout)["packages"]} == {"mock"}
    app = next((release["out"] / "centos6").glob("altai-app-*.noarch.rpm"))
    assert file_of(app, "/usr/share/altai-app/app.txt") == b"libaltai 1.2\n"
    installed = (logs(release["out"]) / "altai-app" / "installed_pkgs.log").read_text()
    assert "libaltai-devel-1.2-1.el6" in installed  # the chroot's own rpmdb (%_dbpath), as mock lists it
    assert "altai-buildsys-12-1" in installed
    lines = run.stderr.splitlines()
    lib_done = next(i for i, ln in enumerate(lines) if ln.startswith("time: libaltai: build (mock)"))
    assert lib_done < next(i for i, ln in enumerate(lines) if "altai-app: building" in ln)
    statement = json.loads((release["out"] / "metadata/provenance" / f"{app.name}.intoto.jsonl").read_text())
    provenance = json.loads(base64.b64decode(statement["payload"]))["predicate"]["runDetails"]["builder"]
    assert provenance["id"].endswith("/builders/mock")
    assert provenance["builderDependencies"][0]["name"] == "altai-host-base"
    manifest = json.loads((release["out"] / "manifest.json").read_text())
    built = next(p for p in manifest["packages"] if p["name"] == "altai-app" and p["arch"] != "src")["build"]
    assert (built["builder"], built["chroot"]) == ("mock", "altai-host-base")

    # the published library, not the run's, serves the next run's application: a new one shows its version
    release["lib"].commit(
        {"libaltai.spec": LIB_SPEC.replace("Version: 1.2", "Version: 2.0"), "lib.txt": "libaltai 2.0\n"}
    )
    assert mock_build(release, state_dir, gnupghome, "libaltai").returncode == 0
    release["app"].commit(
        {"altai-app.spec": (release["app"].path / "altai-app.spec").read_text().replace("Release: 2%", "Release: 3%")}
    )
    assert mock_build(release, state_dir, gnupghome, "altai-app").returncode == 0
    app = next((release["out"] / "centos6").glob("altai-app-0.5-3*.noarch.rpm"))
    assert file_of(app, "/usr/share/altai-app/app.txt") == b"libaltai 2.0\n"


def test_the_same_package_from_mock_and_the_local_builder_has_the_same_payload(release, state_dir, gnupghome, tmp_path):
    assert mock_build(release, state_dir, gnupghome, "nova-fping").returncode == 0
    local = {**release, "out": tmp_path / "local"}
    assert build(local, state_dir, gnupghome, "nova-fping").returncode == 0
    (mocked,) = (release["out"] / "centos6").glob("nova-fping-*.noarch.rpm")
    (built,) = (local["out"] / "centos6").glob("nova-fping-*.noarch.rpm")
    assert payload(mocked) == payload(built)
    run = build(release, state_dir, gnupghome, "--verify", "--builder", "mock", "--json")
    assert run.returncode == 0, run.stdout
    report = json.loads(run.stdout)
    assert [f["verdict"] for f in report["files"] if f["path"].endswith("noarch.rpm")] == ["reproduced"]


def test_a_build_requires_nothing_provides_is_one_line_naming_it_and_root_log(release, state_dir, gnupghome):
    release["app"].commit(
        {
            "altai-app.spec": (release["app"].path / "altai-app.spec")
            .read_text()
            .replace("BuildArch:", "BuildRequires: no-such-library >= 3\nBuildArch:")
        }
    )
    run = mock_build(release, state_dir, gnupghome, "altai-app")
    log = logs(release["out"]) / "altai-app" / "root.log"
    assert_one_line_error(
        run,
        "altai-app: mock could not prepare the build root",
        str(log),
        "no package provides the BuildRequires no-such-library",
    )
    assert "Child return code was: 0" not in run.stderr.splitlines()[-1]
    assert tree(release["out"]) == {}


def test_a_requires_of_a_build_requires_nothing_provides_is_named_with_its_package(release, state_dir, gnupghome):
    release["lib"].commit(
        {"libaltai.spec": LIB_SPEC.replace("%description devel", "Requires: not-shipped\n%description devel")}
    )
    chained(release)
    run = mock_build(release, state_dir, gnupghome, "libaltai", "altai-app")
    said = "nothing provides not-shipped needed by libaltai-devel-1.2-1.el6"
    assert_one_line_error(run, "altai-app: mock could not prepare the build root", said, "[buildroot] stubs")
    # the layout takes it on trust, and every run says so
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('base = "host"', 'base = "host"\nstubs = ["not-shipped"]'))
    run = mock_build(release, state_dir, gnupghome, "libaltai", "altai-app")
    assert run.returncode == 0, run.stderr
    assert "names taken on trust, without files ([buildroot] stubs): not-shipped" in run.stderr


def test_a_failing_build_is_one_line_with_the_tail_of_build_log(release, state_dir, gnupghome):
    assert mock_build(release, state_dir, gnupghome, "nova-fping").returncode == 0
    before = tree(release["out"])
    release["app"].commit(
        {
            "altai-app.spec": (release["app"].path / "altai-app.spec")
            .read_text()
            .replace("%build\ntrue", "%build\necho 'error: compiler exploded'; exit 1")
        }
    )
    run = mock_build(release, state_dir, gnupghome, "altai-app")
    log = logs(release["out"]) / "altai-app" / "build.log"
    assert_one_line_error(run, "altai-app: build failed in mock", str(log), "Bad exit status")
    assert "compiler exploded" in log.read_text()
    assert tree(release["out"]) == before


def _interval(state_log: Path) -> tuple[datetime, datetime]:
    stamps = [datetime.strptime(ln[:23], "%Y-%m-%d %H:%M:%S,%f") for ln in state_log.read_text().splitlines()]
    return stamps[0], stamps[-1]


def test_two_builds_run_at_once_each_in_its_own_root_and_the_root_cache_is_reused(release, state_dir, gnupghome):
    assert mock_build(release, state_dir, gnupghome, "libaltai", "altai-app", "--jobs", "2").returncode == 0
    lib, app = (_interval(logs(release["out"]) / n / "state.log") for n in ("libaltai", "altai-app"))
    assert lib[0] < app[1], (lib, app)  # the two mocks overlapped
    assert app[0] < lib[1], (lib, app)
    run = mock_build(release, state_dir, gnupghome, "libaltai", "--rebuild")
    assert run.returncode == 0, run.stderr
    assert "Start: unpacking root cache" in (logs(release["out"]) / "libaltai" / "state.log").read_text()


def _ours(marker: str) -> list[str]:
    """Processes whose command line names this test's own directory (every mock and sandbox of its run)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if entry.name.isdigit() and marker in line and "pytest" not in line:
            found.append(line)
    return found


def test_sigterm_during_a_mock_build_leaves_no_mount_process_or_chroot(release, state_dir, gnupghome):
    release["app"].commit(
        {
            "altai-app.spec": (release["app"].path / "altai-app.spec")
            .read_text()
            .replace("%build\ntrue", "%build\nsleep 120")
        }
    )
    proc = subprocess.Popen(
        build_argv(release, state_dir, "altai-app", "--builder", "mock"),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "GNUPGHOME": str(gnupghome)},
    )
    staging = release["out"].with_name("out.store") / "staging"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any("Start: rpmbuild" in p.read_text() for p in staging.glob("run-*/build/altai-app/result/state.log")):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"rpmbuild never started: {proc.communicate()[1][-3000:]}")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert str(release["out"].parent) not in Path("/proc/self/mountinfo").read_text()
    assert _ours(str(release["out"].parent)) == []
    assert list(staging.iterdir()) == []  # the chroot went with the run's staging area
    assert tree(release["out"]) == {}


def test_a_build_requires_whose_scriptlet_escapes_the_chroot_writes_nothing_of_the_host(
    release, make_repo, state_dir, gnupghome, tmp_path
):
    """pwn's %post leaves the chroot (mkdir, chroot, chdir .. x64, chroot .) and writes a marker: mock installs
    it, as a BuildRequires of altai-app, as root of the sandbox's user namespace, which is nobody of the
    host; the escape ends in the sandbox's own view."""
    marker = tmp_path / "escaped-marker"
    repo = make_repo(
        {"pwn.spec": PWN_SPEC.replace("MARKER_PATH", str(marker)), "esc.c": ESCAPE_C.replace("MARKER", f'"{marker}"')}
    )
    layout = release["layout"]
    layout.write_text(layout.read_text() + f'\n[packages.pwn]\ngit = "{repo.path}"\nrepository = "centos6"\n')
    assert build(release, state_dir, gnupghome, "pwn").returncode == 0  # gcc: the host's, in the local builder
    release["app"].commit(
        {
            "altai-app.spec": (release["app"].path / "altai-app.spec")
            .read_text()
            .replace("BuildArch:", "BuildRequires: pwn\nBuildArch:")
        }
    )
    run = mock_build(release, state_dir, gnupghome, "altai-app")
    root_log = (logs(release["out"]) / "altai-app" / "root.log").read_text()
    mock_log = (logs(release["out"]) / "altai-app" / "mock.log").read_text()
    assert "pwn-1-1.el6" in root_log + mock_log  # it was installed: its %post ran
    assert not marker.exists(), marker.read_text()
    assert run.returncode == 0 or "scriptlet failed" in mock_log, run.stderr


def test_mock_refusing_its_config_is_one_line_with_mocks_reason(release, state_dir, gnupghome, tmp_path):
    """A chroot config of mock's own whose template is missing: mock exits 3, 'Could not find included
    config file'; a chroot mock has no config for is refused before mock runs, naming the paths tried."""
    install = find_mock()
    assert install is not None
    broken = tmp_path / "mock-configs"
    shutil.copytree(install.configdir, broken)
    (broken / "eol" / "templates" / "centos-6.tpl").unlink()
    layout = release["layout"]
    text = layout.read_text().replace('base = "host"', 'base = "mock"')
    layout.write_text(
        text.replace('mock_chroot = "epel-6-x86_64"', f'mock_chroot = "epel-6-x86_64"\nmock_configdir = "{broken}"')
    )
    run = mock_build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(
        run,
        "libaltai: mock refused its config",
        f"Could not find included config file: {broken}/eol/templates/centos-6.tpl",
    )
    layout.write_text(layout.read_text().replace('mock_chroot = "epel-6-x86_64"', 'mock_chroot = "nosuch-5-x86_64"'))
    run = mock_build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(
        run,
        "mock chroot 'nosuch-5-x86_64': this host's mock has no such config",
        f"{broken}/nosuch-5-x86_64.cfg, {broken}/eol/nosuch-5-x86_64.cfg",
    )
    assert tree(release["out"]) == {}


TOOL_SPEC = """\
Name: altai-tool
Version: 1
Release: 1%{?dist}
Summary: A tool built against the application
License: MIT
Source0: %{name}-%{version}.tar.gz
BuildRequires: altai-app
BuildArch: noarch
%description
Tool.
%prep
%setup -q
%build
cat /usr/share/altai-app/app.txt > tool.txt
%install
mkdir -p %{buildroot}/usr/share/altai-tool
cp tool.txt %{buildroot}/usr/share/altai-tool/
%files
/usr/share/altai-tool
"""


def _chain(release, make_repo) -> None:
    """lib -> app -> tool, and an unrelated package: app's payload is lib's header, tool's app's."""
    release["lib"].commit({"lib.txt": "libaltai 1.2\n"})
    chained(release, "cat /usr/include/libaltai.h > app.txt")
    tool = make_repo({"altai-tool.spec": TOOL_SPEC, "README": "tool\n"})
    alone = make_repo(
        {
            "altai-alone.spec": TOOL_SPEC.replace("altai-tool", "altai-alone")
            .replace("BuildRequires: altai-app\n", "")
            .replace("cat /usr/share/altai-app/app.txt", "echo alone")
        }
    )
    layout = release["layout"]
    layout.write_text(
        layout.read_text() + f'\n[packages.altai-tool]\ngit = "{tool.path}"\nrepository = "centos6"\n'
        f'\n[packages.altai-alone]\ngit = "{alone.path}"\nrepository = "centos6"\n'
    )


def _published(release, name: str) -> Path:
    (found,) = (release["out"] / "centos6").glob(f"{name}-[0-9]*.noarch.rpm")
    return found


def test_a_change_of_the_library_reaches_exactly_its_dependents(release, make_repo, state_dir, gnupghome):
    _chain(release, make_repo)
    names = ("libaltai", "altai-app", "altai-tool", "altai-alone")
    assert mock_build(release, state_dir, gnupghome, *names).returncode == 0
    alone = _published(release, "altai-alone").read_bytes()
    explained = build(release, state_dir, gnupghome, "--explain", "libaltai", "altai-app")
    assert "a change:    rebuilds altai-app, altai-tool (the layout's [buildroot] rebuild = 'transitive')" in (
        explained.stdout
    ), explained.stdout
    assert "built against: libaltai-devel-1.2-1.el6.x86_64" in explained.stdout
    release["lib"].commit(
        {"libaltai.spec": LIB_SPEC.replace("Version: 1.2", "Version: 2.0"), "lib.txt": "libaltai 2.0\n"}
    )
    run = mock_build(release, state_dir, gnupghome, "libaltai", "--json")  # the library alone is named
    assert run.returncode == 0, run.stderr
    results = {r["package"]: r for r in json.loads(run.stdout)["packages"]}
    assert results["libaltai"]["builder"] == "mock"
    assert results["altai-app"]["rebuilt_for"] == "rebuilt for libaltai-devel 2.0-1.el6"
    assert results["altai-tool"]["rebuilt_for"] == "rebuilt for altai-app 0.5-2.el6.1"
    assert "altai-alone" not in results or results["altai-alone"]["builder"] == "cached"
    app, tool = _published(release, "altai-app"), _published(release, "altai-tool")
    assert app.name == "altai-app-0.5-2.el6.1.noarch.rpm"
    assert tool.name == "altai-tool-1-1.el6.1.noarch.rpm"
    assert file_of(app, "/usr/share/altai-app/app.txt") == b"libaltai 2.0\n"
    assert file_of(tool, "/usr/share/altai-tool/tool.txt") == b"libaltai 2.0\n"
    assert _published(release, "altai-alone").read_bytes() == alone
    assert "Rebuilt for libaltai-devel 2.0-1.el6" in payload(app, "%{CHANGELOGTEXT}")
    notes = (release["out"] / "RELEASE-NOTES.md").read_text()
    assert "reason: rebuilt for libaltai-devel 2.0-1.el6" in notes
    # its provenance names the root it was built in: the new library, from this run's own repository
    envelope = (release["out"] / "metadata" / "provenance" / f"{app.name}.intoto.jsonl").read_text()
    statement = json.loads(base64.b64decode(json.loads(envelope)["payload"]))
    root = {
        d["name"]: d["annotations"]["repository"]
        for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        if d.get("annotations", {}).get("buildRoot")
    }
    assert root["libaltai-devel-2.0-1.el6.x86_64"] == "this run", root
    assert "base" in root.values()  # the base's packages too
    # nothing is left built against the old library, and a second run changes nothing
    again = mock_build(release, state_dir, gnupghome, "libaltai", "altai-app", "altai-tool", "--json")
    assert again.returncode == 0, again.stderr
    assert {r["builder"] for r in json.loads(again.stdout)["packages"]} == {"cached"}
    verify = build(release, state_dir, gnupghome, "--verify", "--builder", "mock", "--json")
    assert verify.returncode == 0, verify.stdout[-3000:]
    # the app's own change, its spec's Release not raised: it stays above its rebuild, and the tool follows
    release["app"].commit({"NEWS": "a change of its own\n"})
    run = mock_build(release, state_dir, gnupghome, "altai-app", "--json")
    assert run.returncode == 0, run.stderr
    results = {r["package"]: r for r in json.loads(run.stdout)["packages"]}
    assert results["altai-app"]["rebuilt_for"] is None
    assert "its own change, kept above the release's rebuild 0.5-2.el6.1" in results["altai-app"]["notes"]
    assert _published(release, "altai-app").name == "altai-app-0.5-2.el6.2.noarch.rpm"
    assert _published(release, "altai-tool").name == "altai-tool-1-1.el6.2.noarch.rpm"


def test_the_rebuild_policy_bounds_how_far_a_change_reaches(release, make_repo, state_dir, gnupghome):
    _chain(release, make_repo)
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('base = "host"', 'base = "host"\nrebuild = "direct"'))
    assert mock_build(release, state_dir, gnupghome, "libaltai", "altai-app", "altai-tool").returncode == 0
    tool = _published(release, "altai-tool").read_bytes()
    # the library built again to the same bytes (a build root reproduces it) reaches nothing
    run = mock_build(release, state_dir, gnupghome, "libaltai", "--rebuild", "--json")
    assert run.returncode == 0, run.stderr
    assert [r["package"] for r in json.loads(run.stdout)["packages"] if r["builder"] == "mock"] == ["libaltai"]
    assert _published(release, "altai-app").name == "altai-app-0.5-2.el6.noarch.rpm"
    release["lib"].commit({"lib.txt": "libaltai 1.3\n", "libaltai.spec": LIB_SPEC.replace("1.2", "1.3")})
    run = mock_build(release, state_dir, gnupghome, "libaltai", "--json")
    assert run.returncode == 0, run.stderr
    built = {r["package"] for r in json.loads(run.stdout)["packages"] if r["builder"] == "mock"}
    assert built == {"libaltai", "altai-app"}  # the app is rebuilt, not what needs the app
    assert _published(release, "altai-app").name == "altai-app-0.5-2.el6.1.noarch.rpm"
    assert _published(release, "altai-tool").read_bytes() == tool
    layout.write_text(layout.read_text().replace('rebuild = "direct"', 'rebuild = "local"'))
    release["lib"].commit({"lib.txt": "libaltai 1.4\n", "libaltai.spec": LIB_SPEC.replace("1.2", "1.4")})
    run = mock_build(release, state_dir, gnupghome, "libaltai", "--json")
    assert run.returncode == 0, run.stderr
    assert [r["package"] for r in json.loads(run.stdout)["packages"] if r["builder"] == "mock"] == ["libaltai"]
    assert file_of(_published(release, "altai-app"), "/usr/share/altai-app/app.txt") == b"libaltai 1.3\n"
    explained = build(release, state_dir, gnupghome, "--explain", "altai-app")
    assert "built against: libaltai-devel-1.3-1.el6.x86_64 (rebuilt for libaltai-devel 1.3-1.el6)" in explained.stdout


def test_verify_names_what_the_build_root_of_a_binary_that_differs_had_otherwise(release, state_dir, gnupghome):
    """A package whose %build reads its root: built in the base alone, checked in a root the layout now gives
    one more package: --verify says the binary differs and which packages of the root differ then and now."""
    probe = "rpm -q --quiet altai-buildroot-stubs"
    chained(release, f"if {probe}; then echo more > app.txt; else echo bare > app.txt; fi")
    assert mock_build(release, state_dir, gnupghome, "libaltai", "altai-app").returncode == 0
    layout = release["layout"]
    more = 'base = "host"\npackages = ["altai-probe"]\nstubs = ["altai-probe"]'
    layout.write_text(layout.read_text().replace('base = "host"', more))
    verify = build(release, state_dir, gnupghome, "--verify", "--builder", "mock", "--json")
    assert verify.returncode != 0
    verdicts = {Path(v["path"]).name: v["verdict"] for v in json.loads(verify.stdout)["files"]}
    app = next(v for name, v in verdicts.items() if name.startswith("altai-app-0.5-2.el6.noarch"))
    assert app.startswith("differs: "), app
    assert "its build root then and now differ in " in app, app
    assert "altai-buildroot-stubs - -> " in app, app
    assert verdicts["libaltai-1.2-1.el6.x86_64.rpm"] == "reproduced"


def test_the_gate_of_a_mock_built_release_installs_it_and_reproduces_it_in_mock(
    release, state_dir, gnupghome, tmp_path
):
    """The CI release job with mock: the lib -> app chain built in chroots, installed by dnf on a base OS, and
    each binary reproduced from its SRPM in a chroot, before the release is published."""
    from rpmtools import base_os_repo

    chained(release, "cat /usr/include/libaltai.h > app.txt")
    base_repo = base_os_repo(tmp_path)
    run = mock_build(release, state_dir, gnupghome, "libaltai", "altai-app", "--gate", "--base-repos", str(base_repo))
    assert run.returncode == 0, run.stderr
    assert "ok: dnf install of" in run.stderr
    checks = json.loads((release["out"] / "metadata" / "checks.json").read_text())["checks"]
    assert any(
        c.startswith("every binary package reproduced from its SRPM with mock (3 binary packages") for c in checks
    )
