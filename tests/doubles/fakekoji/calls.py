"""The hub calls the koji builder makes, each with the signature of Koji 1.35.3's hub function (kojihub.py,
repos.py), so that an argument the hub would refuse is a fault. tests/unit/test_fakekoji_api.py checks the
names and signatures against the hub's own _listapi(), recorded in koji-1.35.3-api.json."""

from __future__ import annotations

import base64
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any

import koji
import koji.util

from .state import HubState
from .tasks import TASK


def build_row(build_id: int, nevra: Any, task_id: int, event: int, now: float) -> dict[str, Any]:
    """A build as listBuilds returns it (the keys of its query in kojihub.py), with getBuild's `id`."""
    when = time.strftime("%Y-%m-%d %H:%M:%S+00:00", time.gmtime(now))
    return {
        "build_id": build_id,
        "id": build_id,
        "name": nevra.name,
        "package_id": 1,
        "package_name": nevra.name,
        "version": nevra.version,
        "release": nevra.release,
        "epoch": nevra.epoch,
        "nvr": f"{nevra.name}-{nevra.version}-{nevra.release}",
        "state": koji.BUILD_STATES["COMPLETE"],
        "task_id": task_id,
        "source": None,
        "extra": None,
        "owner_id": 1,
        "owner_name": "altai-release",
        "volume_id": 0,
        "volume_name": "DEFAULT",
        "draft": False,
        "creation_event_id": event,
        "creation_time": when,
        "creation_ts": now,
        "start_time": when,
        "start_ts": now,
        "completion_time": when,
        "completion_ts": now,
        # a draft build's promotion; ours are never drafts
        "promotion_time": None,
        "promotion_ts": None,
        "promoter_id": None,
        "promoter_name": None,
    }


class HubCalls(HubState):
    @property
    def api(self) -> dict[str, Callable[..., Any]]:
        return {
            "sslLogin": self._ssl_login_signature,
            "logout": self.logout,
            "getBuildTarget": self.getBuildTarget,
            "checkUpload": self.checkUpload,
            "build": self.build,
            "getTaskInfo": self.getTaskInfo,
            "getTaskChildren": self.getTaskChildren,
            "getTaskResult": self.getTaskResult,
            "listTaskOutput": self.listTaskOutput,
            "downloadTaskOutput": self.downloadTaskOutput,
            "cancelTask": self.cancelTask,
            "listBuilds": self.listBuilds,
            "listRPMs": self.listRPMs,
            "listBuildroots": self.listBuildroots,
            "getRPMHeaders": self.getRPMHeaders,
            "getTag": self.getTag,
            "listTagged": self.listTagged,
            "tagLastChangeEvent": self.tagLastChangeEvent,
            "repo.request": self.repo_request,
            "repo.checkRequest": self.repo_checkRequest,
            "getBuild": self.getBuild,
            "getBuildConfig": self.getBuildConfig,
            "getPackageConfig": self.getPackageConfig,
            "listTags": self.listTags,
            "tagBuild": self.tagBuild,
        }

    needs_login = {"logout", "build", "cancelTask", "repo.request", "tagBuild"}

    def _ssl_login_signature(self, proxyuser=None, proxyauthtype=None, renew=False, exclusive=None):
        raise AssertionError("dispatched to _ssl_login")  # only its signature is used

    def logout(self, session_id=None):
        return None

    def getBuildTarget(self, info, event=None, strict=False):
        if info in (self.target["name"], self.target["id"]):
            return dict(self.target)
        if strict:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such build target: {info}")
        return None

    def checkUpload(self, path, name, verify=None, tail=None, volume=None):
        target = self._upload_path(path, name)
        if not target.exists():
            return None
        st = target.stat()
        result: dict[str, Any] = {"size": st.st_size, "mtime": st.st_mtime}
        if verify:
            data = target.read_bytes()
            result.update(sumlength=len(data), hexdigest=koji.util.adler32_constructor(data).hexdigest())
        return result

    def build(self, src, target, opts=None, priority=None, channel=None):
        if target != self.target["name"]:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such build target: {target}")
        opts = opts or {}
        # the options `koji build` passes (koji_cli.commands.handle_build)
        known = {
            "scratch",
            "skip_tag",
            "arch_override",
            "repo_id",
            "fail_fast",
            "draft",
            "wait_builds",
            "wait_repo",
            "rebuild_srpm",
            "custom_user_metadata",
        }
        unknown = set(opts) - known
        if unknown:
            raise xmlrpc.client.Fault(koji.ParameterError.faultCode, f"unknown build options {sorted(unknown)}")
        path, _, name = src.rpartition("/")
        srpm = self._upload_path(path, name)
        if not name.endswith(".src.rpm") or not srpm.is_file():
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such file: {src}")
        with self.lock:
            task = self._task("build", "noarch", None, label=name)
        threading.Thread(target=self._run_build, args=(task, srpm, dict(opts)), daemon=True).start()
        return task.id

    def getTaskInfo(self, task_id, request=False, strict=False):
        with self.lock:
            task = self.tasks.get(task_id)
            return task.info() if task else None

    def getTaskChildren(self, task_id, request=False, strict=False):
        with self.lock:
            return [t.info() for t in self.tasks.values() if t.parent == task_id]

    def getTaskResult(self, taskId, raise_fault=True):
        with self.lock:
            task = self.tasks[taskId]
            if task.state == TASK["FAILED"] and task.fault is not None:
                raise task.fault
            if task.state == TASK["CANCELED"]:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"Task {taskId} is canceled")
            if not task.done:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"Task {taskId} is currently open")
            return task.result

    def listTaskOutput(self, taskID, stat=False, all_volumes=False, strict=False):
        with self.lock:
            outputs = dict(self.tasks[taskID].outputs)
        if not stat:
            return sorted(outputs)
        return {
            name: {
                "st_size": str(p.stat().st_size - (f"{taskID}/{name}" in self.short)),
                "st_atime": str(p.stat().st_atime),
                "st_mtime": str(p.stat().st_mtime),
                "st_ctime": str(p.stat().st_ctime),
            }
            for name, p in outputs.items()
        }

    def downloadTaskOutput(self, taskID, fileName, offset=0, size=-1, volume=None):
        if ".." in fileName:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"Invalid file name: {fileName}")
        with self.lock:
            path = self.tasks[taskID].outputs.get(fileName)
        if path is None:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f'no file "{fileName}" output by task {taskID}')
        with open(path, "rb") as f:
            f.seek(int(offset), 0 if int(offset) >= 0 else 2)
            data = f.read(int(size))
        return base64.b64encode(data).decode()

    def cancelTask(self, task_id, recurse=True):
        with self.lock:
            for task in self.tasks.values():
                if (task.id == task_id or (recurse and task.parent == task_id)) and not task.done:
                    task.state, task.completion_ts = TASK["CANCELED"], time.time()
        return

    def listBuilds(
        self,
        packageID=None,
        userID=None,
        taskID=None,
        prefix=None,
        state=None,
        volumeID=None,
        source=None,
        createdBefore=None,
        createdAfter=None,
        completeBefore=None,
        completeAfter=None,
        type=None,
        typeInfo=None,
        queryOpts=None,
        pattern=None,
        cgID=None,
        draft=None,
    ):
        with self.lock:  # listBuilds rows have build_id, not id (getBuild has both)
            return [
                {k: v for k, v in b.items() if k != "id"}
                for b in self.builds.values()
                if taskID is None or b["task_id"] == taskID
            ]

    def listRPMs(
        self,
        buildID=None,
        buildrootID=None,
        imageID=None,
        componentBuildrootID=None,
        hostID=None,
        arches=None,
        queryOpts=None,
        draft=None,
    ):
        wanted = [arches] if isinstance(arches, str) else arches
        with self.lock:
            return [dict(r) for r in self.rpms.get(buildID, []) if wanted is None or r["arch"] in wanted]

    def listBuildroots(
        self,
        hostID=None,
        tagID=None,
        state=None,
        rpmID=None,
        archiveID=None,
        taskID=None,
        buildrootID=None,
        repoID=None,
        queryOpts=None,
    ):
        return []  # the double's builders run rpmbuild in place: no mock root to list (the real hub's test lists one)

    def getRPMHeaders(self, rpmID=None, taskID=None, filepath=None, headers=None, strict=False):
        """As the hub: the requested headers of a build's rpm, strings decoded; {} for an unknown id."""
        from altai_release.rpm.readback import read_header

        with self.lock:
            path = self.rpm_files.get(rpmID)
        if path is None:
            if strict:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such rpm: {rpmID!r}")
            return {}
        header = read_header(path)
        found = {}
        for name in headers or []:
            value = header[name]
            value = [v.decode() if isinstance(v, bytes) else v for v in value] if isinstance(value, list) else value
            found[name] = value.decode() if isinstance(value, bytes) else value
        return found

    def getBuild(self, buildInfo, strict=False):
        with self.lock:
            for build in self.builds.values():
                if buildInfo in (build["build_id"], build["nvr"]):
                    return dict(build)
        if strict:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such build: {buildInfo!r}")
        return None

    def getBuildConfig(self, tag, event=None):
        info = self.getTag(tag, strict=True, blocked=True)
        info["extra"] = dict(self.build_tag_extra) if info["id"] == 2 else {}
        info["config_inheritance"] = {"extra": {}, "arches": None}
        return info

    def getPackageConfig(self, tag, pkg, event=None):
        tag_info = self.getTag(tag)
        if tag_info is None or (self.package_list is not None and pkg not in self.package_list):
            return None
        return {
            "package_id": 1,
            "package_name": pkg,
            "tag_id": tag_info["id"],
            "tag_name": tag_info["name"],
            "owner_id": 1,
            "owner_name": "release-team",
            "blocked": False,
            "extra_arches": "",
        }

    def listTags(self, build=None, package=None, perms=True, queryOpts=None, pattern=None):
        with self.lock:
            ids = {t for _, t, b in self.tagged if build is None or b == build or self.builds[b]["nvr"] == build}
            return [self.getTag(t) for t in sorted(ids)]

    def tagBuild(self, tag, build, force=False, fromtag=None):
        info, tag_info = self.getBuild(build, strict=True), self.getTag(tag, strict=True)
        if info["state"] != koji.BUILD_STATES["COMPLETE"]:
            raise xmlrpc.client.Fault(koji.TagError.faultCode, f"build {info['nvr']} not complete")
        if self.package_list is not None and info["name"] not in self.package_list:
            raise xmlrpc.client.Fault(koji.TagError.faultCode, f"Package {info['name']} not in list for {tag}")
        with self.lock:
            task = self._task("tagBuild", "noarch", None)
            self.last_event = next(self._events)
            self.tagged.append((self.last_event, tag_info["id"], info["build_id"]))
            self._changed_at = time.time()
            task.state, task.completion_ts = TASK["CLOSED"], time.time()
        return task.id

    def getTag(self, tagInfo, strict=False, event=None, blocked=False):
        for tag_id, name in self.tags.items():
            if tagInfo in (tag_id, name):
                return {
                    "id": tag_id,
                    "name": name,
                    "arches": "x86_64",
                    "extra": {},
                    "locked": False,
                    "perm": None,
                    "perm_id": None,
                    "maven_support": False,
                    "maven_include_all": False,
                }
        if strict:
            raise xmlrpc.client.Fault(koji.GenericError.faultCode, f"No such tagInfo: {tagInfo!r}")
        return None

    def listTagged(
        self,
        tag,
        event=None,
        inherit=False,
        prefix=None,
        latest=False,
        package=None,
        owner=None,
        type=None,
        strict=True,
        extra=False,
        draft=None,
    ):
        tag_id = self.getTag(tag, strict=True)["id"]
        with self.lock:
            builds = self._in_tag(tag_id, event, inherit)
            return [
                dict(self.builds[b], tag_id=tag_id, tag_name=self.tags[tag_id])
                for b in builds
                if package is None or self.builds[b]["name"] == package
            ]

    def tagLastChangeEvent(self, tag, before=None, inherit=True):
        tag_id = self.getTag(tag, strict=True)["id"]
        with self.lock:
            chain = self._tag_chain(tag_id, inherit)
            events = [e for e, t, _ in self.tagged if t in chain and (before is None or e < before)]
            return max(events, default=self.repos[0]["create_event"])

    def repo_request(self, tag, min_event=None, at_event=None, opts=None, priority=None, force=False):
        tag_id = self.getTag(tag, strict=True)["id"]
        with self.lock:
            if min_event in (None, "last"):
                min_event = self.tagLastChangeEvent(tag_id)
            repo = self._repo_since(tag_id, int(min_event))
            if repo and not force:
                return {"repo": repo, "request": None, "duplicate": False}
            req_id = next(self._ids)
            now = time.time()
            self.requests[req_id] = {
                "id": req_id,
                "tag_id": tag_id,
                "at_event": at_event,
                "min_event": int(min_event),
                "opts": {},
                "active": True,
                "task_id": None,
                "task_state": None,
                "tries": 0,
                "repo_id": None,
                "priority": 20,
                "owner": 1,
                "create_ts": now,
                "update_ts": now,
            }
            return {"repo": None, "request": dict(self.requests[req_id]), "duplicate": False}

    def repo_checkRequest(self, req_id):
        with self.lock:
            req = self.requests.get(int(req_id))
            if req is None:
                raise xmlrpc.client.Fault(koji.GenericError.faultCode, "No such request")
            repo = self._repo_since(req["tag_id"], req["min_event"])
            if repo:
                req.update(active=False, repo_id=repo["id"], update_ts=time.time())
            return {"repo": repo, "request": dict(req)}
