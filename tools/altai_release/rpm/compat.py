"""The target compatibility gate: what Debian's rpm 4.18 writes must be readable by the rpm of the target
the release is for (EL6: rpm 4.8). Checked on every built package, after signing, before anything is
published: its rpmlib() features, its payload compressor and its signature's algorithm."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from altai_release.core.errors import VerificationError
from altai_release.rpm.readback import read_header
from altai_release.rpm.rpmbindings import rpm_bindings

# rpmlib(FEATURE): the rpm.org release that first reads it (rpm writes rpm5-era numbers for some of them,
# e.g. PayloadIsXz <= 5.2, so the dependency's own version is not the answer)
RPMLIB_SINCE = {
    "VersionedDependencies": "3.0.3",
    "CompressedFileNames": "3.0.4",
    "PayloadIsBzip2": "3.0.5",
    "PayloadFilesHavePrefix": "4.0",
    "ExplicitPackageProvide": "4.0",
    "HeaderLoadSortsTags": "4.0.1",
    "ScriptletInterpreterArgs": "4.0.3",
    "PartialHardlinkSets": "4.0.4",
    "ConcurrentAccess": "4.1",
    "BuiltinLuaScripts": "4.2.2",
    "PayloadIsLzma": "4.4.6",
    "FileDigests": "4.6.0",
    "FileCaps": "4.6.1",
    "PayloadIsXz": "4.7.0",
    "ScriptletExpansion": "4.9.0",
    "TildeInVersions": "4.10.0",
    "LargeFiles": "4.12.0",
    "RichDependencies": "4.12.0",
    "PayloadIsZstd": "4.14.0",
    "CaretInVersions": "4.15.0",
    "DynamicBuildRequires": "4.15.0",
}
PAYLOAD_SINCE = {"gzip": "3.0", "bzip2": "3.0.5", "lzma": "4.4.6", "xz": "4.7.0", "zstd": "4.14.0"}
# header signatures by key algorithm: what the target's rpm can verify
SIGNATURE_SINCE = {"RSA": "3.0", "DSA": "3.0", "EdDSA": "4.16.0"}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def problems(path: Path, target: str) -> list[str]:
    """What in the package the target's rpm cannot read (empty when nothing)."""
    rpm = rpm_bindings()
    hdr = read_header(path)
    wanted = _version(target)
    found = []
    for name, flags in zip(hdr["requirename"] or [], hdr["requireflags"] or [], strict=False):
        name = str(name)
        if not name.startswith("rpmlib(") or not int(flags) & rpm.RPMSENSE_RPMLIB:
            continue
        feature = name[len("rpmlib(") : -1]
        since = RPMLIB_SINCE.get(feature)
        if since is None:
            found.append(f"{name}, a feature this gate does not know")
        elif _version(since) > wanted:
            found.append(f"{name} (rpm {since})")
    compressor = str(hdr["payloadcompressor"] or "gzip")
    since = PAYLOAD_SINCE.get(compressor)
    if since is None or _version(since) > wanted:
        found.append(f"a {compressor} payload (rpm {since or 'unknown'})")
    signature = str(hdr.format("%{RSAHEADER:pgpsig}"))
    if "Key ID" not in signature:
        signature = str(hdr.format("%{DSAHEADER:pgpsig}"))
    algorithm = signature.split("/", 1)[0] if "Key ID" in signature else ""
    if algorithm:
        since = SIGNATURE_SINCE.get(algorithm)
        if since is None or _version(since) > wanted:
            found.append(f"an {algorithm} signature (rpm {since or 'unknown'})")
    return found


def check_target(packages: Sequence[Path], target: str | None, package: str) -> None:
    if target is None:
        return
    for path in packages:
        found = problems(path, target)
        if found:
            raise VerificationError(
                f"{package}: {path.name} needs {', '.join(found)}; the target's rpm {target} cannot read it "
                "(the layout's [release] target_rpm)"
            )
