"""The builders: a build task, kojid's checks (build_from_srpm, one build per NVR), its rebuildSRPM, a
buildArch that runs the local rpmbuild after checking BuildRequires against the build tag's repository as
mock's root would, the import and tagging of a real build, and topurl's files."""

from __future__ import annotations

import shutil
import subprocess
import time
import traceback
import xmlrpc.client
from pathlib import Path
from typing import Any

import koji
from altai_release.rpm.readback import read_header, read_nevra
from altai_release.specfile.rpmbuild import INNER_TOPDIR, Rpmbuild

from .calls import build_row
from .state import HubState
from .tasks import TASK, Task


class Farm(HubState):
    def _run_build(self, parent: Task, srpm: Path, opts: dict[str, Any]) -> None:
        scratch = bool(opts.get("scratch"))
        with self.lock:
            parent.state, parent.start_ts, parent.host_id = TASK["ASSIGNED"], time.time(), 1
        time.sleep(0.05)  # a task waits ASSIGNED until its builder takes it
        child: Task | None = None
        try:
            with self.lock:
                parent.state = TASK["OPEN"]
                self._assert_build_allowed(srpm, scratch)
            rebuild = (
                opts["rebuild_srpm"]
                if scratch and opts.get("rebuild_srpm") is not None
                else (self.build_tag_extra.get("rebuild_srpm", True))
            )
            if rebuild:  # kojid's getSRPMFromSRPM: a rebuildSRPM subtask makes Koji's own copy of the SRPM
                srpm = self._rebuild_srpm(parent, srpm)
            with self.lock:
                buildarchs = read_header(srpm)["buildarchs"] or []
                arch = "noarch" if list(buildarchs) == ["noarch"] else "x86_64"
                child = self._task("buildArch", arch, parent.id, label=arch)
            with self.slots:
                if read_nevra(srpm).name in self.tracebacks:
                    raise ValueError("the builder broke")
                rpms = self._build_arch(child, srpm)
            with self.lock:
                if parent.done:
                    return
                if not scratch:
                    self._import(parent, srpm, rpms)
                parent.state, parent.completion_ts = TASK["CLOSED"], time.time()
        except Exception as exc:  # noqa: BLE001 - a builder's failure fails its task, as kojid reports it
            # kojid reports an error it did not expect as Fault(1, the formatted traceback)
            fault = exc if isinstance(exc, xmlrpc.client.Fault) else xmlrpc.client.Fault(1, _traceback(exc))
            with self.lock:
                for task in (child, parent):
                    if task is not None and not task.done:
                        task.state, task.fault, task.completion_ts = TASK["FAILED"], fault, time.time()

    def _assert_build_allowed(self, srpm: Path, scratch: bool) -> None:
        """What kojid's buildTask and the hub's initBuild check before a real build."""
        if scratch:
            return
        if "altai-release" not in self.srpm_builders:  # the owner of every task here
            said = "policy violation (build_from_srpm): Only admin can do this via default policy"
            raise xmlrpc.client.Fault(koji.ActionNotAllowed.faultCode, said)
        nevra = read_nevra(srpm)
        nvr = f"{nevra.name}-{nevra.version}-{nevra.release}"
        for build in self.builds.values():
            state = koji.BUILD_STATES[build["state"]]
            if build["nvr"] == nvr and state not in ("FAILED", "CANCELED"):
                said = f"Build already exists (id={build['build_id']}, state={state}): {nvr!r}"
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, said)

    def _rebuild_srpm(self, parent: Task, srpm: Path) -> Path:
        """kojid's rebuildSRPM: the SRPM rebuilt from itself in the build root (rpmbuild -rs), a new header."""
        with self.lock:
            task = self._task("rebuildSRPM", "noarch", parent.id)
            task.state, task.start_ts, task.host_id = TASK["OPEN"], time.time(), 1
        out = self.work / "tasks" / str(task.id)
        top = out / "top"
        (top / "SRPMS").mkdir(parents=True)
        subprocess.run(
            [
                "rpmbuild",
                "-rs",
                "--nodeps",
                "--define",
                f"_topdir {top}",
                "--define",
                f"dist {self.dist}",
                "--define",
                "_buildhost koji-builder",
                str(srpm),
            ],
            check=True,
            capture_output=True,
        )
        rebuilt = next((top / "SRPMS").glob("*.src.rpm"))
        with self.lock:
            task.outputs[rebuilt.name] = rebuilt
            task.state, task.completion_ts = TASK["CLOSED"], time.time()
        return rebuilt

    def _build_arch(self, task: Task, srpm: Path) -> list[Path]:
        out = self.work / "tasks" / str(task.id)
        out.mkdir(parents=True)
        with self.lock:
            task.state, task.start_ts, task.host_id = TASK["OPEN"], time.time(), 1
            repo = self.repos[-1]
            in_repo = set(self._in_tag(2, repo["create_event"], True))
            known = {cap: b for b, caps in self.provides.items() for cap in caps}
        hdr = read_header(srpm)
        missing = [br for br in hdr["requirename"] if br in known and known[br] not in in_repo]
        (out / "root.log").write_text(f"DEBUG util.py: build root from repo {repo['id']} of {repo['tag_name']}\n")
        (out / "state.log").write_text("INFO State Changed: init\n")
        task.outputs.update({n: out / n for n in ("root.log", "state.log")})
        if missing:
            with open(out / "root.log", "a") as log:
                for name in missing:
                    log.write(f"DEBUG util.py: No matching package to install: '{name}'\n")
                log.write("DEBUG util.py: Not all dependencies satisfied\nERROR: Command failed\n")
            (out / "build.log").write_text("")
            task.outputs["build.log"] = out / "build.log"
            raise xmlrpc.client.Fault(
                koji.BuildrootError.faultCode,
                _mock_failed(task.arch, 30, "root.log"),
            )
        deadline = time.time() + self.slow.get(read_nevra(srpm).name, self.build_seconds)
        while time.time() < deadline:
            if task.done:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"task {task.id} canceled")
            time.sleep(0.05)
        top = out / "top"
        # as kojid's mock root: the build tag's rpm.macro.* extras, no SOURCE_DATE_EPOCH of its own (rpm takes
        # the %changelog's when the tag asks), and the builder's host name unless the tag sets _buildhost
        tag_macros = {
            k.removeprefix("rpm.macro."): str(v) for k, v in self.build_tag_extra.items() if k.startswith("rpm.macro.")
        }
        macros = {"_buildhost": "kojibuilder.example", **tag_macros}
        dist = macros.pop("dist", self.dist)
        rpmbuild = Rpmbuild(
            top,
            [("dist", dist)],
            self.macro_files,
            None,
            inputs={out / "in": INNER_TOPDIR / "SRPMS"},
            macros=macros,
        )
        rpmbuild.prepare()
        local = Path(shutil.copy2(srpm, out / "in" / srpm.name))
        try:
            with rpmbuild.writable_topdir():
                rpms = rpmbuild.rebuild(local, out / "results", log=out / "build.log")
        except Exception as exc:
            task.outputs["build.log"] = out / "build.log"
            raise xmlrpc.client.Fault(
                koji.BuildError.faultCode,
                _mock_failed(task.arch, 1, "build.log"),
            ) from exc
        name = read_nevra(srpm).name
        if name in self.foreign:
            rpms = [self.foreign[name]]
        results = []
        for rpm in [*rpms, local]:
            results.append(Path(shutil.copy2(rpm, out / rpm.name)))
        with self.lock:
            listed = self.output_names.get(name)
            task.outputs.update(
                {(listed if listed and p.suffix == ".rpm" and p != results[-1] else p.name): p for p in results}
            )
            if name in self.understated:
                self.short.update(f"{task.id}/{p.name}" for p in results)
            task.outputs["build.log"] = out / "build.log"
            if task.done:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"task {task.id} canceled")
            rel = f"tasks/{task.id % 10000}/{task.id}"
            task.result = {
                "rpms": [f"{rel}/{p.name}" for p in results if not p.name.endswith(".src.rpm")],
                "srpms": [f"{rel}/{local.name}"],
                "logs": [f"{rel}/{n}" for n in ("build.log", "root.log", "state.log")],
                "brootid": task.id,
            }
            task.state, task.completion_ts = TASK["CLOSED"], time.time()
        return [p for p in results if not p.name.endswith(".src.rpm")] + [out / local.name]

    def _import(self, parent: Task, srpm: Path, files: list[Path]) -> None:
        """A real build: the build and its RPMs recorded, stored under topdir, tagged by a tagBuild task."""
        nevra = read_nevra(srpm)
        build_id = next(self._ids)
        build = build_row(build_id, nevra, parent.id, self.last_event, time.time())
        self.builds[build_id] = build
        rows, provides = [], set()
        for path in files:
            hdr = read_header(path)
            rpm_nevra = read_nevra(path)
            arch = rpm_nevra.arch
            dest = self.work / "packages" / nevra.name / nevra.version / nevra.release / arch / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
            rpm_id = next(self._ids)
            self.rpm_files[rpm_id] = dest
            rows.append(
                {
                    "id": rpm_id,
                    "build_id": build_id,
                    "name": rpm_nevra.name,
                    "version": rpm_nevra.version,
                    "release": rpm_nevra.release,
                    "epoch": rpm_nevra.epoch,
                    "arch": arch,
                    "payloadhash": hdr["sigmd5"].hex(),
                    "size": dest.stat().st_size,
                    "buildtime": hdr["buildtime"],
                    "buildroot_id": 1,
                    "external_repo_id": 0,
                    "external_repo_name": "INTERNAL",
                    "metadata_only": False,
                    "extra": None,
                    "draft": False,
                }
            )
            if arch != "src":
                provides.update([rpm_nevra.name, *hdr["providename"]])
        self.rpms[build_id], self.provides[build_id] = rows, provides
        tag_task = self._task("tagBuild", "noarch", parent.id)
        self.last_event = next(self._events)
        self.tagged.append((self.last_event, 3, build_id))
        self._changed_at = time.time()
        tag_task.state, tag_task.completion_ts = TASK["CLOSED"], time.time()

    def serve_file(self, relpath: str) -> Path | None:
        """topurl: /kojifiles/packages/N/V/R/ARCH/FILE, and a task's output at /kojifiles/work/tasks/N/ID/FILE
        (koji.PathInfo.task: N is the id modulo 10000)."""
        parts = relpath.split("/")
        if any(p in ("", ".", "..") for p in parts):
            return None
        if len(parts) == 5 and parts[:2] == ["work", "tasks"] and parts[3].isdigit() and self.serve_task_outputs:
            with self.lock:
                task = self.tasks.get(int(parts[3]))
                path = task.outputs.get(parts[4]) if task and parts[2] == str(task.id % 10000) else None
            return path if path is not None and path.is_file() else None
        if len(parts) != 6 or parts[0] != "packages":
            return None
        path = self.work.joinpath(*parts)
        return path if path.is_file() else None


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _mock_failed(arch: str, status: int, log: str) -> str:
    """kojid's BuildRoot.build failure message."""
    return f"error building package (arch {arch}), mock exited with status {status}; see {log} for more information"
