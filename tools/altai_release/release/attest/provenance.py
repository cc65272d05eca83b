"""Signed build provenance of every binary RPM the release built: `metadata/provenance/FILE.intoto.jsonl`, one
DSSE envelope (a line of JSON) holding an in-toto Statement v1 with the SLSA Provenance v1 predicate, signed
by the release's metadata key (the key that signs repomd.xml).

The statement and its predicate are made with the in-toto attestation library (its protobuf messages, and
its own validation of the statement); the envelope and its pre-authentication encoding (PAE) are
securesystemslib's. The signature is made here, with the tool's gpg wrapper, for what securesystemslib's
GPGSigner lacks: it signs at the clock's time, and its keyid is not the fingerprint yum shows. Ours signs as
at the package's build time (or the key's creation, when that is later): an RSA signature of the same
bytes, at the same time, by the same key is the same bytes, so the same inputs give the same files.

Upstream binaries (`deps/centos6-updates`, `deps/epel`) have no statement: we did not build them; they keep
their upstream signatures, and the SBOM names their supplier."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from altai_release.core.hashing import file_sha256
from altai_release.core.paths import METADATA_DIR
from altai_release.layout import ReleaseLayout
from altai_release.rpm.manifest import Manifest, ManifestEntry
from altai_release.rpm.rpmheader import read_identity

PROVENANCE_DIR = f"{METADATA_DIR}/provenance"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://altai.example/release-tooling/rpm-build/v1"  # docs/release-tree.md says what it means
BUILDER_ID = "https://altai.example/release-tooling/builders/"  # + local | mock; a Koji build names its hub


def built_here(layout: ReleaseLayout, entry: ManifestEntry) -> bool:
    """A binary package of a repository we build (own or rebuilt): one statement each."""
    repo = layout.repositories.get(entry.repository)
    return entry.arch != "src" and repo is not None and repo.content in ("own", "rebuilt")


def statement_name(entry: ManifestEntry) -> str:
    return f"{PROVENANCE_DIR}/{Path(entry.path).name}.intoto.jsonl"


def statement_names(layout: ReleaseLayout, manifest: Manifest) -> dict[str, str]:
    """Release path of each binary we built -> the path of its statement (what manifest.json lists)."""
    return {e.path: statement_name(e) for e in sorted(manifest.entries, key=lambda e: e.path) if built_here(layout, e)}


def _descriptor(**fields: Any) -> Any:
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor

    descriptor = ResourceDescriptor(**fields)
    descriptor.validate()
    return descriptor.pb


def _dependencies(layout: ReleaseLayout, entry: ManifestEntry, srpm: ManifestEntry | None) -> list[Any]:
    """What the build was made from: the git commit and tree or the upstream SRPM, the SRPM the release
    publishes, the layout's macro files, the packages of its build root."""
    source, found = entry.source or {}, []
    if source.get("kind") == "git":
        digest = {"gitCommit": source["commit"], **({"gitTree": source["tree"]} if source.get("tree") else {})}
        found.append(_descriptor(uri=f"git+{source['url']}@{source['ref']}", digest=digest))
    elif source.get("kind") == "srpm":
        found.append(_descriptor(uri=source["url"], digest={"sha256": source["sha256"]}))
    elif source.get("kind") == "release":
        found.append(_descriptor(name=layout.file.name, digest={"sha256": source["sha256"]}))
    if srpm is not None:
        found.append(_descriptor(name=Path(srpm.path).name, uri=srpm.path, digest={"sha256": srpm.sha256}))
    # the macros files the build used, as the manifest recorded them then (a package kept by a later run
    # was not built with that run's files); else, for a build recorded before, the layout's now
    build = entry.build or {}
    macros = {k.removeprefix("macros:"): v for k, v in build.items() if k.startswith("macros:")}
    if not macros and "layout_sha256" not in build:
        macros = {layout.macro_name(p): file_sha256(p) for p in layout.macro_files}
    found += [_descriptor(name=name, digest={"sha256": digest}) for name, digest in sorted(macros.items())]
    return found + _root_packages(entry)


def _root_packages(entry: ManifestEntry) -> list[Any]:
    """Each package the build root held, by NEVRA and rpm's digest of it (SIGMD5), with the repository it
    came from: a rebuild in another root is a build of other inputs, and says so."""
    from google.protobuf.struct_pb2 import Struct

    found = []
    for package in entry.build_root or []:
        if package["repository"] == "host" or not package["digest"]:
            continue  # the local builder's root is the host: the builder's id says so
        where = Struct()
        where.update({"buildRoot": True, "repository": package["repository"]})
        found.append(_descriptor(name=package["nevra"], digest={"md5": package["digest"]}, annotations=where))
    return found


def _run_details(entry: ManifestEntry, buildtime: int, tool_version: str) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2 as slsa

    build = entry.build or {}
    kind = build.get("builder", "unknown")
    builder = slsa.Builder(id=build["hub"] if kind == "koji" else BUILDER_ID + kind)
    builder.version["altai-release"] = tool_version
    if kind == "mock":
        builder.builder_dependencies.append(
            _descriptor(
                name=build["chroot"], uri=f"mock://{build['chroot']}", digest={"sha256": build["config_sha256"]}
            )
        )
    # rpm keeps one time per package (BUILDTIME: SOURCE_DATE_EPOCH under the layout's macros): the start and
    # the end both say it, so that a rebuild of the same inputs says the same
    when = Timestamp(seconds=buildtime)
    metadata = slsa.BuildMetadata(invocation_id=build.get("task", ""), started_on=when, finished_on=when)
    return slsa.RunDetails(builder=builder, metadata=metadata)


def make_statement(
    layout: ReleaseLayout,
    entry: ManifestEntry,
    srpm: ManifestEntry | None,
    buildtime: int,
    tool_version: str,
    layout_file: tuple[str, str] | None = None,
) -> bytes:
    """The in-toto Statement of one binary package, as compact JSON with sorted keys (stable bytes).
    `layout_file`: the name and SHA-256 of the layout it names, when not the one loaded now (a check)."""
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.struct_pb2 import Struct
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2 as slsa
    from in_toto_attestation.v1.statement import Statement

    source = entry.source or {}
    layout_name, layout_digest = layout_file or (layout.file.name, file_sha256(layout.file))
    parameters = Struct()
    parameters.update(
        {
            "layout": {"name": layout_name, "sha256": (entry.build or {}).get("layout_sha256") or layout_digest},
            "package": entry.origin,
            "repository": entry.repository,
            **{k: source[k] for k in ("ref", "subdir", "spec", "url") if source.get(k)},
        }
    )
    definition = slsa.BuildDefinition(build_type=BUILD_TYPE, external_parameters=parameters)
    definition.resolved_dependencies.extend(_dependencies(layout, entry, srpm))
    predicate = slsa.Provenance(build_definition=definition, run_details=_run_details(entry, buildtime, tool_version))
    subject = _descriptor(name=Path(entry.path).name, digest={"sha256": entry.sha256})
    statement = Statement([subject], PREDICATE_TYPE, MessageToDict(predicate))
    statement.validate()
    return json.dumps(MessageToDict(statement.pb), sort_keys=True, separators=(",", ":")).encode()


def envelope_line(payload: bytes, keyid: str, sign: Any) -> str:
    """The DSSE envelope of `payload`, signed by `sign(pae) -> signature bytes`, as one line of JSON."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import Signature

    envelope = Envelope(payload, PAYLOAD_TYPE, {})
    envelope.signatures[keyid] = Signature(keyid, sign(envelope.pae()).hex())
    return json.dumps(envelope.to_dict(), sort_keys=True, separators=(",", ":")) + "\n"


def write_provenance(target: Path, layout: ReleaseLayout, manifest: Manifest, signer: Any) -> int:
    """A signed statement for each binary package we built (`signer`: the metadata key's SigningIdentity);
    how many were written."""
    from importlib import metadata

    version = metadata.version("altai-release")
    by_file = {Path(e.path).name: e for e in manifest.entries if e.arch == "src"}
    created = signer.keyring.created(signer.fingerprint)
    (target / PROVENANCE_DIR).mkdir(parents=True, exist_ok=True)
    names = statement_names(layout, manifest)
    for entry in manifest.entries:
        if entry.path not in names:
            continue
        identity = read_identity(target / entry.path)
        payload = make_statement(layout, entry, by_file.get(identity.sourcerpm), identity.buildtime, version)
        # the build time is the package's own word (a build's spec can skew it): never later than now
        when = max(min(identity.buildtime, int(time.time())), created)

        def sign(pae: bytes, when: int = when) -> bytes:
            return bytes(signer.keyring.sign_at(signer.fingerprint, pae, signer.passphrase_file, when))

        line = envelope_line(payload, signer.fingerprint.lower(), sign)
        (target / names[entry.path]).write_text(line, encoding="utf-8")
    return len(names)
