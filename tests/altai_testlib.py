"""Shared helpers and fixtures of the tooling tests: real git repositories in tmp dirs, a runner for the
real entry points, and a release of three packages built with tools/build.py. (Not named conftest:
src/nova-fping/tests has its own, and test modules import from here.)"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from altai_release.rpm.manifest import ManifestEntry

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"
SHIPPED_LAYOUT = ROOT / "repo-layout" / "altai.toml"

# the tests run the checkout's tool, in-process too: with what tools/*.py give it (docs/install.md)
from _bootstrap import checkout_environment  # noqa: E402

for _name, _value in checkout_environment().items():
    os.environ.setdefault(_name, _value)


def _spec_vr(name: str) -> str:
    """VERSION-RELEASE (with the layout's .el6) of a package as specs/NAME.spec says today."""
    text = (ROOT / "specs" / f"{name}.spec").read_text()
    version = re.search(r"^Version:\s*(\S+)", text, re.M)
    release = re.search(r"^Release:\s*(\d+)%\{\?dist\}", text, re.M)
    assert version, f"specs/{name}.spec: no plain Version/Release"
    assert release, f"specs/{name}.spec: no plain Version/Release"
    return f"{version.group(1)}-{release.group(1)}.el6"


NOVA_FPING_VR = _spec_vr("nova-fping")
INSTANCE_NOTIFIER_VR = _spec_vr("instance-notifier")


@dataclass
class GitRepo:
    path: Path
    clock: int = 1_700_000_000

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Test Author",
            "GIT_AUTHOR_EMAIL": "author@example.com",
            "GIT_COMMITTER_NAME": "Test Author",
            "GIT_COMMITTER_EMAIL": "author@example.com",
            "GIT_AUTHOR_DATE": f"@{self.clock} +0000",
            "GIT_COMMITTER_DATE": f"@{self.clock} +0000",
        }
        proc = subprocess.run(["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True)
        return proc.stdout.strip()

    def write(self, files: Mapping[str, str | bytes]) -> None:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")

    def commit(self, files: Mapping[str, str | bytes], message: str = "change") -> str:
        self.write(files)
        self.clock += 3600
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def make_repo(tmp_path: Path):
    counter = iter(range(1000))

    def factory(files: Mapping[str, str | bytes] | None = None) -> GitRepo:
        path = tmp_path / f"repo{next(counter)}"
        path.mkdir()
        repo = GitRepo(path)
        repo.git("init", "-q", "-b", "main")
        if files:
            repo.commit(files, "initial")
        return repo

    return factory


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def local_builder_unless_named(args: Sequence[str]) -> list[str]:
    """`--builder rpmbuild` unless the arguments name a builder: `auto` is mock wherever it is installed, and a
    test of something else than the builder need not pay for chroots (tests/integration/test_mock.py and the
    chains of packages build with mock)."""
    return [] if any(a == "--builder" or a.startswith("--builder=") for a in args) else ["--builder", "rpmbuild"]


def run_tool(script: str, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Run:
    builder = local_builder_unless_named(args) if script == "build.py" else []
    proc = subprocess.run(
        [sys.executable, str(TOOLS / script), *builder, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(run: Run, *fragments: str) -> None:
    """The CLI contract for failures: non-zero, exactly one `error:` line naming the culprit, last on stderr
    (after any progress lines), no traceback."""
    assert run.returncode != 0, run
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, run.stderr
    assert lines[-1] == errors[0], run.stderr
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


# -- a release of three packages, built with tools/build.py -------------------------------------------

LIB_SPEC = """\
Name: libaltai
Version: 1.2
Release: 1%{?dist}
Summary: A library of the release
License: MIT
Source0: %{name}-%{version}.tar.gz
%description
Library.
%package devel
Summary: Headers
%description devel
Headers.
%prep
%setup -q
%build
cat lib.txt > built.txt
%install
mkdir -p %{buildroot}/usr/share/libaltai %{buildroot}/usr/include
cp built.txt %{buildroot}/usr/share/libaltai/
cp lib.txt %{buildroot}/usr/include/libaltai.h
%files
/usr/share/libaltai
%files devel
/usr/include/libaltai.h
"""

# A package whose `%post -p` is a static binary that leaves its chroot (mkdir, chroot, chdir .. x64, chroot .)
# and writes a marker: what a scriptlet run as a host's root could do (test_package_code_not_root, test_mock).
ESCAPE_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
    mkdir("/.esc", 0755);
    if (chroot("/.esc") != 0) return 5;
    for (int i = 0; i < 64; i++) chdir("..");
    if (chroot(".") != 0) return 6;
    int fd = open(MARKER, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 7;
    char line[64];
    int n = snprintf(line, sizeof line, "uid %d\n", (int)getuid());
    write(fd, line, n);
    return close(fd);
}
"""

PWN_SPEC = """\
Name: pwn
Version: 1
Release: 1%{?dist}
Summary: A package whose %post leaves the installroot
License: MIT
Source0: %{name}-%{version}.tar.gz
%description
Escapes.
%prep
%setup -q
%build
gcc -static -O1 -DMARKER='"MARKER_PATH"' -o esc esc.c
%install
install -D -m 0755 esc %{buildroot}/usr/bin/esc
%post -p /usr/bin/esc
%files
/usr/bin/esc
"""


APP_BUILD_REQUIRES = "BuildRequires: libaltai-devel >= 1.0\n"
APP_SPEC = """\
Name: altai-app
Version: 0.5
Release: 2%{?dist}
Summary: An application that builds against libaltai
License: MIT
Source0: %{name}-%{version}.tar.gz
BuildRequires: libaltai-devel >= 1.0
BuildArch: noarch
%description
App.
%prep
%setup -q
%build
%{BUILD_STEP}
%install
mkdir -p %{buildroot}/usr/share/altai-app
cp app.txt %{buildroot}/usr/share/altai-app/
%files
/usr/share/altai-app
"""


def shipped_buildroot(*more_stubs: str) -> str:
    """The shipped layout's [buildroot] table (the host-derived base, and the names instance-notifier's build
    root takes on trust), with more stubs at will: for test layouts that build the shipped packages with
    mock (instance-notifier BuildRequires nova-fping, which the local builder refuses)."""
    import json
    import tomllib

    table = tomllib.loads((ROOT / "repo-layout" / "altai.toml").read_text())["buildroot"]
    stubs = [*table["stubs"], *more_stubs]
    return f'[buildroot]\nbase = "host"\npackages = {json.dumps(table["packages"])}\nstubs = {json.dumps(stubs)}\n'


def app_spec(build_step: str = "true", needs_lib: bool = False) -> str:
    """altai-app's spec, whose `%build` runs `build_step`; with `needs_lib`, it BuildRequires libaltai-devel."""
    return APP_SPEC.replace("%{BUILD_STEP}", build_step).replace("" if needs_lib else APP_BUILD_REQUIRES, "")


def chained(release, build_step: str = "true") -> None:
    """altai-app BuildRequires libaltai-devel (its `%build` runs `build_step`): built with mock, which
    installs it from the run's or the release's own repositories."""
    release["app"].commit({"altai-app.spec": app_spec(build_step, needs_lib=True)})


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One development key for the whole session: generating RSA keys is the slow part of signing."""
    return tmp_path_factory.mktemp("state")


@pytest.fixture
def gnupghome(tmp_path: Path) -> Path:
    home = tmp_path / "gnupg-empty"
    home.mkdir(mode=0o700)
    return home


# the test release's layout without its packages: the release, its development key and repositories
TEST_LAYOUT_HEAD = """\
[release]
name = "altai"
version = "9.9"
dist = ".el6"
mock_chroot = "epel-6-x86_64"
macros = ["el6.macros"]

[buildroot]
base = "host"

[keys.altai]
id = "Altai Test Release Key"
development = true

[repositories.centos6]
path = "centos6"
signed_by = "altai"
content = "own"
sources = "centos6-srpms"

[repositories.centos6-srpms]
path = "centos6/SRPMS"
signed_by = "altai"
content = "sources"

[repositories.misc]
path = "deps/misc"
signed_by = "altai"
content = "rebuilt"
sources = "misc-srpms"

[repositories.misc-srpms]
path = "deps/misc-srpms"
signed_by = "altai"
content = "sources"

"""


@pytest.fixture
def release(make_repo, tmp_path):
    lib = make_repo({"libaltai.spec": LIB_SPEC, "lib.txt": "library\n"})
    # the application needs nothing of the library here: the local builder, which installs no BuildRequires,
    # refuses a package that BuildRequires another of the release; `chained(release)` makes it need it
    app = make_repo({"altai-app.spec": app_spec(), "app.txt": "app\n"})
    layout = tmp_path / "layout" / "altai.toml"
    layout.parent.mkdir()
    (layout.parent / "templates").symlink_to(ROOT / "repo-layout" / "templates")
    (layout.parent / "el6.macros").write_text((ROOT / "repo-layout/macros/el6.macros").read_text())
    layout.write_text(
        TEST_LAYOUT_HEAD
        + textwrap.dedent(f"""\
        [packages.nova-fping]
        git = "{ROOT}"
        subdir = "src/nova-fping"
        spec = "specs/nova-fping.spec"
        repository = "centos6"

        [packages.libaltai]
        git = "{lib.path}"
        repository = "misc"

        [packages.altai-app]
        git = "{app.path}"
        repository = "centos6"
        """)
    )
    return {"layout": layout, "lib": lib, "app": app, "out": tmp_path / "out"}


def build_argv(release, state_dir, *args) -> list[str]:
    """tools/build.py on the test release, as a command line (for runs started in the background), with the
    local builder unless the test names one."""
    return [
        sys.executable,
        str(TOOLS / "build.py"),
        "--layout",
        str(release["layout"]),
        "--out",
        str(release["out"]),
        "--state-dir",
        str(state_dir),
        *local_builder_unless_named(args),
        *args,
    ]


def build(release, state_dir, gnupghome, *args, env=None):
    argv = build_argv(release, state_dir, *args)
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "GNUPGHOME": str(gnupghome), **(env or {})},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def tree(out: Path) -> dict[str, bytes]:
    """Every published file with its bytes."""
    if not out.exists():
        return {}
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def packages_and_keys(out: Path) -> list[str]:
    return sorted(p for p in tree(out) if p.endswith(".rpm") or p.startswith("RPM-GPG-KEY-"))


def logs(out: Path) -> Path:
    return out.with_name(out.name + ".store") / "logs"


@pytest.fixture(scope="session", autouse=True)
def no_agents_left_behind(tmp_path_factory: pytest.TempPathFactory):
    """gpg starts an agent for every GNUPGHOME the tests make (keys, signing homes): stop them all at the
    end of the session, as the tool stops the one of its development key after each run."""
    yield
    for home in gpg_agent_homes(tmp_path_factory.getbasetemp()):
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], capture_output=True)


def gpg_agent_homes(under: Path) -> list[str]:
    """The --homedir of every running gpg-agent whose home is below `under`: the agents of what a test
    started (other tests, in other workers, start theirs)."""
    homes = []
    for pid in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"gpg-agent") and b"--homedir" in argv:
            home = argv[argv.index(b"--homedir") + 1].decode(errors="replace")
            if Path(home).is_relative_to(under):
                homes.append(home)
    return homes


SPEC_TEMPLATE = """\
Name:           {name}
Version:        {version}
Release:        {release}
Summary:        Test package
License:        MIT
Source0:        {source0}
{extra}
BuildArch:      noarch

%description
A test package.

%prep
%setup -q

%install
mkdir -p %{{buildroot}}/usr/share/{name}
cp -a . %{{buildroot}}/usr/share/{name}/

%files
/usr/share/{name}

%changelog
* Mon Jan 01 2024 Test Author <author@example.com> - {version}-1
- first
"""


def spec(
    name: str = "hello",
    version: str = "1.0",
    release: str = "1%{?dist}",
    source0: str = "%{name}-%{version}.tar.gz",
    extra: str = "",
) -> str:
    """A git2srpm test package's spec (noarch, its tree copied into /usr/share/NAME)."""
    return SPEC_TEMPLATE.format(name=name, version=version, release=release, source0=source0, extra=extra)


def built(run: Run) -> Path:
    """The SRPM a successful git2srpm run printed last."""
    assert run.returncode == 0, run.stderr
    srpm = Path(run.stdout.strip().splitlines()[-1])
    assert srpm.is_absolute()
    assert srpm.exists()
    assert srpm.name.endswith(".src.rpm")
    return srpm


def dnf(root: Path, reposdir: Path, *args: str, plugins: str = "--noplugins") -> subprocess.CompletedProcess[str]:
    """Debian's dnf, in the sandbox the tool runs it in (package code never runs as the host's root, here
    either), with the network for the tests' servers on 127.0.0.1. Its `local` plugin breaks gpg checks in
    an installroot: plugins stay off, or only that one is disabled where a plugin command (repoclosure) is
    needed."""
    from altai_release.release.check.dnf import DnfRoot

    done = DnfRoot(root, reposdir).run(*args, plugins=(plugins,), network=True)
    return subprocess.CompletedProcess(["dnf", *args], done.returncode, done.output, "")


def manifest_entry(
    name: str, version: str, release: str = "1", header: str = "h", repository: str = "centos6"
) -> ManifestEntry:
    from altai_release.rpm.manifest import ManifestEntry

    return ManifestEntry(
        repository=repository,
        path=f"{repository}/{name}-{version}-{release}.noarch.rpm",
        origin=name,
        name=name,
        epoch=None,
        version=version,
        release=release,
        arch="noarch",
        sha256="s",
        header_sha256=header,
        signer="altai",
        signer_keyid="k",
    )


TOOL_SCRIPTS = ("tools/build.py", "tools/git2srpm.py", "tools/srpm2git.py")


def doc_commands(doc: Path) -> list[str]:
    """The example command lines of a page: code lines (indented or fenced) and inline code spans that start
    with one of the tools, without a synopsis's brackets or placeholders."""
    found, fenced = [], False
    for line in doc.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        code = [line.strip()] if fenced or line.startswith("    ") else re.findall(r"`([^`]+)`", line)
        for text in (c.split("  #", 1)[0].strip() for c in code):
            tool = next((t for t in TOOL_SCRIPTS if text.startswith(t + " ")), None)
            if tool and not any(c in text for c in "[|…") and not re.search(r"\b[A-Z_]{3,}\b", text):
                found.append(text)
    return found


PATCHED_SPEC = """\
Name: patched
Version: 2.1
Release: 3%{?dist}
Summary: A third-party package we start to patch
License: MIT
Source0: https://upstream.example/%{name}-%{version}.tar.xz
Source1: patched.conf
Patch0: fix-build.patch
BuildArch: noarch
%description
Patched.
%prep
%setup -q
%patch0 -p1
%install
mkdir -p %{buildroot}/etc
cp %{SOURCE1} %{buildroot}/etc/
%files
/etc/patched.conf
"""


def peak_rss_mib(argv: list[str], tmp: Path, env: dict[str, str] | None = None) -> tuple[int, str, int]:
    """(exit status, stderr, peak RSS in MiB) of `argv`, as /usr/bin/time measures it."""
    rss = tmp / "peak-rss"
    proc = subprocess.run(
        ["/usr/bin/time", "-o", str(rss), "-f", "%M", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, proc.stderr, int(rss.read_text().split()[-1]) // 1024


def add_package(release: dict, name: str, repo: Path) -> None:
    """A package of the git repository `repo` added to the test layout (repository misc)."""
    layout = release["layout"]
    layout.write_text(layout.read_text() + f'\n[packages.{name}]\ngit = "{repo}"\nrepository = "misc"\n')


def hostile(extra: str = "", build_step: str = "", install: str = "", name: str = "hostile") -> str:
    """A minimal noarch spec with the hostile lines."""
    text = spec(name=name, version="1", source0="%{name}-%{version}.tar.gz", extra=extra)
    if build_step:
        text = text.replace("%install\n", f"%build\n{build_step}\n\n%install\n", 1)
    if install:
        text = text.replace("%files\n", f"{install}\n\n%files\n", 1)
    return text


def srpm_with(tmp: Path, members: dict[str, tarfile.TarInfo | bytes]) -> Path:
    """An SRPM of `patched` (rpmbuild -bs) whose Source0 tarball holds `members`."""
    top = tmp / "top-patched"
    (top / "SOURCES").mkdir(parents=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, content in members.items():
            if isinstance(content, tarfile.TarInfo):
                tar.addfile(content)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(content)
                info.mode = 0o755 if name.endswith(".sh") else 0o644
                tar.addfile(info, io.BytesIO(content))
    (top / "SOURCES" / "patched-2.1.tar.xz").write_bytes(buf.getvalue())
    (top / "SOURCES" / "patched.conf").write_text("setting = 1\n")
    (top / "SOURCES" / "fix-build.patch").write_text("--- a/README\n+++ b/README\n@@ -1 +1 @@\n-old\n+new\n")
    spec = top / "patched.spec"
    spec.write_text(PATCHED_SPEC)
    subprocess.run(
        ["rpmbuild", "--quiet", "-bs", "--define", f"_topdir {top}", "--define", "dist .el6", str(spec)],
        check=True,
        capture_output=True,
    )
    (srpm,) = (top / "SRPMS").glob("*.src.rpm")
    return srpm


def installed(root: Path) -> dict[str, str]:
    """name -> NEVRA of every package in the installroot's rpmdb."""
    query = "%{NAME} %{NAME}-%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}.%{ARCH}\\n"
    proc = subprocess.run(
        ["rpm", "--root", str(root), "-qa", "--qf", query],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.strip())
