"""The release's software bill of materials: `metadata/NAME-VERSION.cdx.json`, CycloneDX 1.6 made with
cyclonedx-python-lib. Every binary and source RPM of the release is a component (its `pkg:rpm` purl with the
arch, epoch and distro, its file's SHA-256, its License tag, its supplier: the repository it is published
in and who makes what that repository holds); a binary depends on the SRPM it was built from; an SRPM we
made names its git commit or the upstream SRPM (URL and SHA-256) it was rebuilt from. The tool is the
generating tool.

The bytes depend on the packages alone: the serial number is derived from the manifest's entries, and the
timestamp is the newest build time among the packages (never the clock), so two runs on the same inputs
write the same file."""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from altai_release.core.paths import METADATA_DIR
from altai_release.layout import ReleaseLayout
from altai_release.rpm.manifest import Manifest, ManifestEntry
from altai_release.rpm.rpmheader import PackageIdentity, read_identity

_NAMESPACE = uuid.UUID("6f1c7e57-2b1a-4d7c-9a55-3d6f0c1e8b21")  # ours: serial numbers of release SBOMs


def sbom_name(layout: ReleaseLayout) -> str:
    return sbom_path(layout.name, layout.version)


def sbom_path(release: str, version: str) -> str:
    """Where the SBOM of release `release` `version` is in its tree."""
    return f"{METADATA_DIR}/{release}-{version}.cdx.json"


def _supplier(layout: ReleaseLayout, entry: ManifestEntry) -> str:
    content = layout.repositories[entry.repository].content if entry.repository in layout.repositories else ""
    if content == "upstream":
        return f"{entry.origin.removeprefix('upstream:')} (upstream, as published)"
    return f"{layout.name} ({entry.repository})"


def _component(layout: ReleaseLayout, entry: ManifestEntry, ident: PackageIdentity) -> Any:
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalEntity
    from packageurl import PackageURL

    qualifiers = {"arch": entry.arch, "distro": f"{layout.name}-{layout.version}"}
    if entry.epoch is not None:
        qualifiers["epoch"] = str(entry.epoch)
    evr = f"{entry.version}-{entry.release}"
    purl = PackageURL(type="rpm", namespace=layout.name, name=entry.name, version=evr, qualifiers=qualifiers)
    component = Component(
        type=ComponentType.LIBRARY,
        name=entry.name,
        version=f"{entry.epoch}:{evr}" if entry.epoch else evr,
        bom_ref=entry.path,
        purl=purl,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=entry.sha256)],
        supplier=OrganizationalEntity(name=_supplier(layout, entry)),
        properties=[Property(name="altai:path", value=entry.path), Property(name="altai:signer", value=entry.signer)],
    )
    if ident.license:
        component.licenses.add(_license_factory().make_from_string(ident.license))
    _add_origin(component, entry)
    return component


def _license_factory() -> Any:
    try:  # its home since cyclonedx-python-lib 11.x; the old one warns there
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:
        from cyclonedx.factory.license import LicenseFactory
    return LicenseFactory()


def _add_origin(component: Any, entry: ManifestEntry) -> None:
    """Where an SRPM we made came from: its git commit, or the upstream SRPM and its digest."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, XsUri

    source = entry.source
    if entry.arch != "src" or not source:
        return
    kind = source.get("kind")
    if kind == "git":
        url, comment = XsUri(source["url"]), f"commit {source['commit']}"
        ref = ExternalReference(type=ExternalReferenceType.VCS, url=url, comment=comment)
    elif kind == "srpm":
        digest = HashType(alg=HashAlgorithm.SHA_256, content=source["sha256"])
        ref = ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(source["url"]), hashes=[digest])
    else:
        return  # the release package: made from the layout itself, which the SBOM's metadata names
    component.external_references.add(ref)


def make_sbom(
    target: Path, layout: ReleaseLayout, manifest: Manifest, tool_version: str, files: Mapping[str, Path] | None = None
) -> str:
    """The SBOM's text for the release tree at `target`, described by `manifest` (`files`: where each
    package's file is read, when not in `target`: a check reads its own copies)."""
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.output.json import JsonV1Dot6

    entries = sorted(manifest.entries, key=lambda e: e.path)
    identities = {e.path: read_identity((files or {}).get(e.path) or target / e.path) for e in entries}
    components = {e.path: _component(layout, e, identities[e.path]) for e in entries}
    newest = max((i.buildtime for i in identities.values()), default=0)
    release = Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=layout.name,
        version=layout.version,
        bom_ref=f"release:{layout.name}-{layout.version}",
    )
    tool = Component(type=ComponentType.APPLICATION, name="altai-release", version=tool_version)
    bom = Bom(
        serial_number=_serial(entries),
        metadata=BomMetaData(
            component=release,
            timestamp=datetime.datetime.fromtimestamp(newest, datetime.UTC),
            tools=ToolRepository(components=[tool]),
        ),
    )
    srpm_of = {Path(e.path).name: components[e.path] for e in entries if e.arch == "src"}
    for entry in entries:
        bom.components.add(components[entry.path])
    bom.register_dependency(release, components.values())
    for entry in entries:
        built_from = srpm_of.get(identities[entry.path].sourcerpm)
        if entry.arch != "src" and built_from is not None:
            bom.register_dependency(components[entry.path], [built_from])
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def _serial(entries: Iterable[ManifestEntry]) -> uuid.UUID:
    digest = hashlib.sha256("\n".join(f"{e.path} {e.sha256}" for e in entries).encode()).hexdigest()
    return uuid.uuid5(_NAMESPACE, digest)


def write_sbom(target: Path, layout: ReleaseLayout, manifest: Manifest) -> Path:
    from importlib import metadata

    path = target / sbom_name(layout)
    path.parent.mkdir(exist_ok=True)
    path.write_text(make_sbom(target, layout, manifest, metadata.version("altai-release")), encoding="utf-8")
    return path


def sbom_files(text: str) -> dict[str, str]:
    """The files an SBOM lists (their release path) with their SHA-256."""
    data = json.loads(text)
    files: dict[str, str] = {}
    for component in data.get("components", []):
        path = next((p.get("value") for p in component.get("properties", []) if p.get("name") == "altai:path"), None)
        sha = next((h.get("content") for h in component.get("hashes", []) if h.get("alg") == "SHA-256"), None)
        if isinstance(path, str) and isinstance(sha, str):
            files[path] = sha
    return files


def sbom_tool_version(text: str) -> str | None:
    """The version of the tool an SBOM names as its generator."""
    try:
        tools = json.loads(text)["metadata"]["tools"]["components"]
        return next(str(t["version"]) for t in tools if t.get("name") == "altai-release")
    except (ValueError, KeyError, TypeError, StopIteration):
        return None


def regenerated_differences(text: str, expected: str) -> list[str]:
    """How an SBOM differs from the one the release's own packages and manifest make: component by component
    (its purl, version, hashes, license, supplier, source), then the dependencies and the metadata."""
    try:
        have, want = json.loads(text), json.loads(expected)
        mine = {c.get("bom-ref"): c for c in have.get("components", [])}
    except (ValueError, AttributeError, TypeError) as exc:
        return [f"not a CycloneDX JSON document: {exc}"]
    theirs = {c["bom-ref"]: c for c in want["components"]}
    why = [f"lists {ref}, which the release does not hold" for ref in sorted(set(mine) - set(theirs), key=str)]
    why += [f"does not list {ref}" for ref in sorted(set(theirs) - set(mine))]
    for ref in sorted(set(mine) & set(theirs)):
        fields = sorted(k for k in set(mine[ref]) | set(theirs[ref]) if mine[ref].get(k) != theirs[ref].get(k))
        if fields:
            why.append(f"says of {ref} another {', '.join(fields)} than the release's package and manifest")
    for key in sorted(k for k in set(have) | set(want) if k != "components" and have.get(k) != want.get(k)):
        why.append(f"its {key} differs from what the release's packages and manifest make")
    return why


def sbom_differences(text: str, manifest: Manifest) -> list[str]:
    """How an SBOM differs from the release its manifest describes (empty: it lists exactly its files)."""
    try:
        listed = sbom_files(text)
    except (ValueError, AttributeError, TypeError) as exc:
        return [f"not a CycloneDX JSON document: {exc}"]
    published = {e.path: e.sha256 for e in manifest.entries}
    why = [f"lists {p}, which the release does not hold" for p in sorted(set(listed) - set(published))]
    why += [f"does not list {p}" for p in sorted(set(published) - set(listed))]
    why += [
        f"the SHA-256 of {p} differs from the file's"
        for p in sorted(published)
        if listed.get(p, published[p]) != published[p]
    ]
    return why
