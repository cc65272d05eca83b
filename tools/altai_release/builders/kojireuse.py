"""A real build of an NVR the hub already has. Koji never builds an NVR twice (its `initBuild` refuses "Build
already exists"), so a run that failed after its hub builds finished (signing, publishing, another package)
must take those builds instead of submitting them again. Taken only when sound: the hub's build is
COMPLETE and its SRPM is ours: the same payload digest (rpm's SIGMD5) as the SRPM we would upload, or, as
kojid keeps the SRPM mock makes again from ours (its build time, vendor and distribution are kojid's), the
same spec and sources, file by file (name, digest, mode: `getRPMHeaders`). Anything else is one line that
says what the hub has and what to do."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from altai_release.builders.builder import BuildJob
from altai_release.builders.kojihub import KojiHub
from altai_release.core.errors import InputError, KojiError
from altai_release.rpm.readback import read_header, read_nevra

log = logging.getLogger(__name__)


def check_listed(hub: KojiHub, session: Any, dest_tag: str, package: str, name: str) -> None:
    """A real build is tagged into the destination tag, which Koji allows only for a listed package."""
    config = hub.call(f"look up {package} in {dest_tag}", session.getPackageConfig, dest_tag, package)
    if not config or config.get("blocked"):
        state = "blocked in" if config else "not in the package list of"
        raise InputError(
            f"{name}: package {package} is {state} koji tag {dest_tag}, so its build could not be tagged: "
            f"koji add-pkg --owner USER {dest_tag} {package}"
        )


def reusable_build(hub: KojiHub, session: Any, job: BuildJob, nvr: str, rebuilds_srpm: bool) -> dict[str, Any] | None:
    """The hub's build of `nvr` when it is a complete build of our SRPM; None when the hub has none (or a
    failed or cancelled one, whose NVR Koji builds again)."""
    name = job.package.name
    existing = hub.call(f"look up the build {nvr}", session.getBuild, nvr)
    if existing is None:
        return None
    state = hub.koji.BUILD_STATES[existing["state"]]
    where = f"koji build {nvr} (id {existing['build_id']})"
    if state in ("FAILED", "CANCELED"):
        return None
    if state == "BUILDING":
        raise KojiError(
            f"{name}: {where} is being built on the hub by task {existing.get('task_id')}: "
            "wait for it (or cancel it), then run again"
        )
    if state != "COMPLETE":
        raise KojiError(
            f"{name}: {where} is {state.lower()} on the hub, and Koji builds an NVR only once: "
            "raise the package's Release"
        )
    rows = hub.call(f"list the SRPM of {nvr}", session.listRPMs, buildID=existing["build_id"], arches="src")
    theirs = rows[0]["payloadhash"] if rows else "-"
    ours = read_header(job.srpm)["sigmd5"].hex()
    if theirs != ours and not (rows and same_sources(hub, session, rows[0]["id"], job.srpm)):
        why = "; the build tag rebuilds SRPMs (rebuild_srpm), so Koji's copy never is ours" if rebuilds_srpm else ""
        raise KojiError(
            f"{name}: the hub already has {where}, not built from this SRPM (its SRPM's payload digest {theirs}, "
            f"ours {ours}{why}): raise the package's Release, or remove that build from the hub"
        )
    log.info("%s: the hub already has %s from this SRPM (task %s): taking it", name, where, existing.get("task_id"))
    return dict(existing)


_FILES = ("basenames", "filedigests", "filemodes")


def same_sources(hub: KojiHub, session: Any, rpm_id: int, srpm: Path) -> bool:
    """Whether the hub's SRPM `rpm_id` holds our SRPM's files: the same names, digests and modes."""
    theirs = hub.call(f"read the SRPM {rpm_id}", session.getRPMHeaders, rpmID=rpm_id, headers=list(_FILES))
    header = read_header(srpm)
    ours = {h: [v.decode() if isinstance(v, bytes) else v for v in header[h]] for h in _FILES}
    return bool(theirs) and all(list(theirs.get(h) or []) == ours[h] for h in _FILES)


def foreign_build(hub: KojiHub, session: Any, srpm: Path) -> str | None:
    """The hub's build of the SRPM's NVR when it holds other contents (any state Koji does not build again);
    None when the NVR is free, or taken by this very SRPM."""
    nevra = read_nevra(srpm)
    nvr = f"{nevra.name}-{nevra.version}-{nevra.release}"
    existing = hub.call(f"look up the build {nvr}", session.getBuild, nvr)
    if existing is None or hub.koji.BUILD_STATES[existing["state"]] in ("FAILED", "CANCELED"):
        return None
    rows = hub.call(f"list the SRPM of {nvr}", session.listRPMs, buildID=existing["build_id"], arches="src")
    if rows and (
        rows[0]["payloadhash"] == read_header(srpm)["sigmd5"].hex() or same_sources(hub, session, rows[0]["id"], srpm)
    ):
        return None
    return f"koji build {nvr} (id {existing['build_id']})"


def ensure_tagged(hub: KojiHub, session: Any, build: dict[str, Any], dest_tag: str, name: str) -> int | None:
    """The tagBuild task that tags an existing build into the destination tag, None when it is there."""
    tags = hub.call(f"list the tags of {build['nvr']}", session.listTags, build=build["build_id"])
    if any(tag["name"] == dest_tag for tag in tags):
        return None
    log.info("%s: tagging %s into %s", name, build["nvr"], dest_tag)
    return int(hub.call(f"tag {build['nvr']} into {dest_tag}", session.tagBuild, dest_tag, build["build_id"]))


def check_reproducible(hub: KojiHub, session: Any, build_tag: str) -> list[str]:
    """The macros of a reproducible build (those the local builder sets) that the build tag does not set to
    our value as its rpm.macro.* extras; a warning with the exact command that sets them. Without them a
    Koji build differs from a local one (build time, build host, file times) and --verify names it."""
    from altai_release.specfile.rpmbuild import REPRODUCIBLE_MACROS

    config = hub.call(f"read the configuration of {build_tag}", session.getBuildConfig, build_tag)
    extra = config.get("extra") or {}
    missing = [n for n, v in REPRODUCIBLE_MACROS.items() if str(extra.get(f"rpm.macro.{n}", "")) != v]
    if missing:
        settings = " ".join(f"-x rpm.macro.{n}={REPRODUCIBLE_MACROS[n]}" for n in missing)
        log.warning(
            "koji build tag %s does not set what makes a build reproducible (%s): its builds will differ from "
            "a local rebuild (build time, build host, file times); set them with: koji edit-tag %s %s",
            build_tag,
            ", ".join(missing),
            build_tag,
            settings,
        )
    return missing


def check_rebuild_srpm(hub: KojiHub, session: Any, build_tag: str) -> bool:
    """Whether the build tag rebuilds the SRPMs it is given (Koji's default): a warning, or with
    `require_our_srpm` a refusal, since the builds would come from Koji's copy of ours."""
    config = hub.call(f"read the configuration of {build_tag}", session.getBuildConfig, build_tag)
    rebuilds = bool((config.get("extra") or {}).get("rebuild_srpm", True))
    if rebuilds:
        said = (
            f"koji build tag {build_tag} rebuilds the SRPMs it is given (rebuild_srpm is not False): the builds' "
            "binaries and SRPMs come from Koji's copy of ours, made with the tag's macros; "
            f"to build ours as it is: koji edit-tag {build_tag} -x rebuild_srpm=False"
        )
        if hub.settings.require_our_srpm:
            raise InputError(f"{said} (layout [koji] require_our_srpm = true)")
        log.warning(said)
    return rebuilds
