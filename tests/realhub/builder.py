"""kojid itself (koji's builder/kojid: its TaskManager and its build, tagBuild, newRepo, createrepo and
waitrepo handlers) with the one step this machine cannot do replaced: the mock build root. buildArch runs
rpmbuild --rebuild in the task's work directory, with the EL6 macros a CentOS 6 root has and the build tag's
rpm.macro.* (kojid hands them to mock), and reports a build root to the hub as kojid's BuildRoot does.
Run by setup.sh with the system python3 and koji's source in $KOJI_SRC; not a test (nothing collects it)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

SRC = os.environ.get("KOJI_SRC", "/tmp/kojisrc")
EL6_MACROS = Path(__file__).resolve().parents[2] / "repo-layout" / "macros" / "el6.macros"
sys.path.insert(0, SRC)
multilib = types.ModuleType("multilib")  # kojid imports it for multilib repositories only
multilib.multilib = None  # type: ignore[attr-defined]
sys.modules["multilib"] = multilib
loader = importlib.machinery.SourceFileLoader("kojid", f"{SRC}/builder/kojid")
kojid: Any = importlib.util.module_from_spec(importlib.util.spec_from_loader("kojid", loader))  # type: ignore[arg-type]
loader.exec_module(kojid)
koji = kojid.koji


def build_arch(self: Any, pkg: str, root: str, arch: str, keep_srpm: bool, opts: dict[str, Any] | None = None) -> Any:
    repo_id = (opts or {}).get("repo_id")
    if not repo_id:
        raise koji.BuildError("A repo id must be provided")
    self.session.repoInfo(repo_id, strict=True)
    srpm = self.localPath(f"work/{pkg}")
    header = koji.get_rpm_header(srpm)
    if not koji.get_header_field(header, "sourcepackage"):
        raise koji.BuildError("not a source package")
    self.updateWeight(koji.get_header_field(header, "name"))
    buildroot = self.session.host.newBuildRoot(repo_id, koji.canonArch(arch), task_id=self.id)
    self.session.host.setBuildRootState(buildroot, "BUILDING")
    result = Path(self.workdir) / "result"
    result.mkdir()
    extra = self.session.getBuildConfig(root)["extra"]
    defines = [a for k, v in extra.items() if k.startswith("rpm.macro.") for a in ("--define", f"{k[10:]} {v}")]
    # the root's packages cannot be installed here (no CentOS mirror): BuildRequires are not checked
    command = [
        "rpmbuild",
        "--rebuild",
        "--nodeps",
        "--load",
        str(EL6_MACROS),
        *defines,
        "--define",
        f"_topdir {self.workdir}/rpmbuild",
        "--define",
        f"_rpmdir {result}",
        "--define",
        "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
        srpm,
    ]
    with open(result / "build.log", "wb") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    for name in ("root.log", "state.log"):
        (result / name).write_text(f"rpmbuild in place of mock; buildroot {buildroot}\n")
    logs = ["build.log", "root.log", "state.log"]
    for name in logs:
        self.uploadFile(str(result / name))
    if code:
        raise koji.BuildError(f"error building package (arch {arch}), rpmbuild exit {code}; see build.log")
    rpms = sorted(p.name for p in result.glob("*.rpm"))
    for name in rpms:
        self.uploadFile(str(result / name))
    if keep_srpm:  # mock's result holds the SRPM it rebuilt; rpmbuild --rebuild writes none: the input's
        self.uploadFile(srpm)
    self.session.host.setBuildRootState(buildroot, "EXPIRED")
    up = koji.pathinfo.taskrelpath(self.id)
    return {
        "rpms": [f"{up}/{n}" for n in rpms],
        "srpms": [f"{up}/{os.path.basename(srpm)}"] if keep_srpm else [],
        "logs": [f"{up}/{n}" for n in logs],
        "brootid": buildroot,
    }


kojid.BuildArchTask.handler = build_arch

if __name__ == "__main__":
    options = kojid.get_options()
    logging.getLogger("koji").setLevel(logging.INFO)
    koji.add_stderr_logger("koji")
    session = koji.ClientSession(options.server, koji.grab_session_options(options))
    session.ssl_login(options.cert, None, options.serverca)
    session.exclusiveSession(force=True)
    kojid.main(options, session)
