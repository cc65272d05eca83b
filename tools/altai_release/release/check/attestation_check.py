"""`--verify`'s (and `--gate`'s) checks of what a release says about itself, against the pinned metadata key:

- the SBOM is the one the release's own packages and manifest make (regenerated and compared: every
  component's purl, version, hashes, license, supplier and source; the dependencies; the metadata);
- every binary package we built has exactly one provenance statement whose DSSE signature is good by the
  pinned key (gpgv, which trusts exactly the key it is given), whose subject is the published file's name
  and SHA-256, and whose claims (package, repository, ref, commit, tree, SRPM, builder, macros) are the
  manifest's: a manifest that says something else of a package than its signed statement is a FAIL.
A statement or an SBOM that is missing, altered, unreadable or not a plain file is a FAIL naming it; the
checks go on. The names (the SBOM's, the release's) are the release's own (manifest.json), not the layout's."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from altai_release.core.errors import InputError
from altai_release.core.hashing import file_sha256
from altai_release.core.userfiles import parse_json
from altai_release.layout import ReleaseLayout
from altai_release.release.attest.provenance import PAYLOAD_TYPE, PREDICATE_TYPE, PROVENANCE_DIR, statement_names
from altai_release.release.check.treefiles import TreeFiles
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest, ManifestEntry
from altai_release.rpm.rpmheader import read_identity
from altai_release.sandbox.beneath import Unsafe, entries
from altai_release.signing.signature_check import detached_verdict
from altai_release.signing.trust import TrustedKey

Fail = Callable[[str, str], None]
STATEMENT_LIMIT = 1 << 20  # one envelope: a few KiB
SBOM_LIMIT = 64 << 20  # ~1.2 KiB a package
MAX_SIGNATURES = 4  # ours is one; a rotation could add another


def check_attestations(
    layout: ReleaseLayout, files: TreeFiles, manifest: Manifest, key: TrustedKey, fail: Fail
) -> list[str]:
    """The SBOM and the statements, when the manifest lists them as the release's (else one FAIL naming it);
    the statements that passed."""
    from altai_release.release.attest.sbom import sbom_name

    own = layout.for_release(manifest.release, manifest.version)
    listed = manifest.attestations
    if listed is None:
        fail(
            MANIFEST_NAME,
            "lists no SBOM and no provenance: a release made before they existed (rebuild it "
            "with --rebuild to have them), or a manifest that lost them",
        )
        return []
    if listed != {"sbom": sbom_name(own), "provenance": statement_names(own, manifest)}:
        fail(MANIFEST_NAME, "its attestations are not the release's SBOM and one statement per binary it built")
    check_sbom(own, files, manifest, fail)
    return check_provenance(own, files, manifest, key, fail)


def check_sbom(layout: ReleaseLayout, files: TreeFiles, manifest: Manifest, fail: Fail) -> None:
    from altai_release.release.attest.sbom import (
        make_sbom,
        regenerated_differences,
        sbom_differences,
        sbom_name,
        sbom_tool_version,
    )

    rel = sbom_name(layout)
    try:
        data = files.read(rel, SBOM_LIMIT)
        parse_json(data, Path(rel), "CycloneDX document")  # bounded in values: the checks below parse it too
        text = data.decode("utf-8")
    except (OSError, Unsafe, UnicodeDecodeError, InputError) as exc:
        fail(rel, f"the release's SBOM cannot be read: {exc}")
        return
    why = sbom_differences(text, manifest)
    copies = {e.path: files.copies.get(e.path) for e in manifest.entries}
    version = sbom_tool_version(text)
    if not why and version is not None and all(copies.values()):
        # only what the checks read: each package's checked copy
        expected = make_sbom(files.tree, layout, manifest, version, {p: c for p, c in copies.items() if c})
        why = [] if expected == text else regenerated_differences(text, expected) or ["differs in its layout"]
    elif not why and version is None:
        why = ["names no altai-release version as its generator: it was not made by this tool"]
    for said in why[:10]:
        fail(rel, said)


def check_provenance(
    layout: ReleaseLayout, files: TreeFiles, manifest: Manifest, key: TrustedKey, fail: Fail
) -> list[str]:
    """The statements of the tree against its manifest; those that passed."""
    expected = statement_names(layout, manifest)
    wanted = set(expected.values())
    try:
        listing = entries(files.tree, PROVENANCE_DIR) or {}
    except (Unsafe, OSError) as exc:
        fail(PROVENANCE_DIR, f"not a directory of the tree: {exc}")
        return []
    for name, mode in sorted(listing.items()):
        rel = f"{PROVENANCE_DIR}/{name}"
        if rel not in wanted:
            fail(rel, "a provenance statement of no binary package this release built")
        elif not stat.S_ISREG(mode):
            fail(rel, "not a regular file (a link, FIFO or device): not read")
    by_path = {e.path: e for e in manifest.entries}
    srpms = {Path(e.path).name: e for e in manifest.entries if e.arch == "src"}
    passed = []
    for binary, rel in expected.items():
        if Path(rel).name not in listing:
            fail(binary, f"has no provenance statement ({rel})")
        elif stat.S_ISREG(listing[Path(rel).name]):
            why = _statement_fault(layout, files, rel, by_path[binary], srpms, key)
            if why:
                fail(rel, why)
            else:
                passed.append(rel)
    return passed


def _statement_fault(
    layout: ReleaseLayout,
    files: TreeFiles,
    rel: str,
    entry: ManifestEntry,
    srpms: Mapping[str, ManifestEntry],
    key: TrustedKey,
) -> str | None:
    """What is wrong with one statement (None: it is signed, names the published file, and says what the
    manifest says)."""
    from securesystemslib.dsse import Envelope

    try:
        lines = files.read(rel, STATEMENT_LIMIT).splitlines()
        if len(lines) != 1:
            return f"holds {len(lines)} lines; a statement is one DSSE envelope on one line"
        envelope = Envelope.from_dict(json.loads(lines[0]))
        statement = json.loads(envelope.payload)
    except (Unsafe, OSError) as exc:
        return f"cannot be read: {exc}"
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"not a DSSE envelope of an in-toto statement: {exc}"
    why = _signature_fault(files, rel, envelope, key)
    if why is not None:
        return why
    # the file as published (the copy the tree check read), else the manifest's word for it
    copy = files.copies.get(entry.path)
    published = file_sha256(copy) if copy is not None else entry.sha256
    subject = [{"name": Path(entry.path).name, "digest": {"sha256": published}}]
    if not isinstance(statement, dict):
        return f"its payload is not an in-toto statement (a JSON {type(statement).__name__})"
    if statement.get("predicateType") != PREDICATE_TYPE:
        return f"not an SLSA provenance statement (predicateType {statement.get('predicateType')!r})"
    if statement.get("subject") != subject:
        return f"its subject is not the published file and its SHA-256 ({json.dumps(statement.get('subject'))[:200]})"
    return _claims_fault(layout, entry, srpms, copy, statement) if copy is not None else None


def _signature_fault(files: TreeFiles, rel: str, envelope: Any, key: TrustedKey) -> str | None:
    if envelope.payload_type != PAYLOAD_TYPE or not envelope.signatures:
        return f"not a signed in-toto envelope (payloadType {envelope.payload_type!r})"
    if len(envelope.signatures) > MAX_SIGNATURES:  # each is a gpgv run: a 1 MiB file could ask for thousands
        return f"holds {len(envelope.signatures)} signatures, more than the {MAX_SIGNATURES} a statement may have"
    work = files.work / "provenance" / Path(rel).name
    work.mkdir(parents=True, exist_ok=True)
    (work / "pae").write_bytes(envelope.pae())
    faults = []
    for number, signature in enumerate(envelope.signatures.values()):
        try:
            (work / f"sig{number}").write_bytes(bytes.fromhex(signature.signature))
        except ValueError:
            faults.append("a signature that is not hexadecimal")
            continue
        keyring = files.work / "metadata-key" / key.name
        why = detached_verdict(key.public_key, work / "pae", work / f"sig{number}", keyring)
        if why is None:
            return None
        faults.append(why)
    return f"bad signature: not by the pinned key {key} ({'; '.join(faults)})"


def _claims_fault(
    layout: ReleaseLayout, entry: ManifestEntry, srpms: Mapping[str, ManifestEntry], copy: Path, statement: Any
) -> str | None:
    """Where the signed statement and the manifest disagree about the package (its first difference)."""
    from altai_release.release.attest.provenance import make_statement

    predicate = statement.get("predicate")
    try:
        said = predicate["buildDefinition"]["externalParameters"]["layout"]
        version = predicate["runDetails"]["builder"]["version"]["altai-release"]
        layout_file = (str(said["name"]), str(said["sha256"]))
    except (KeyError, TypeError):
        return "its predicate names no layout or tool version: not a statement this tool made"
    identity = read_identity(copy)
    expected = make_statement(layout, entry, srpms.get(identity.sourcerpm), identity.buildtime, version, layout_file)
    where = _first_difference(json.loads(expected), statement)
    if where is None:
        return None
    return f"{MANIFEST_NAME} says another {where} of {entry.path} than its signed provenance statement does"


def _first_difference(want: Any, have: Any, path: str = "") -> str | None:
    if isinstance(want, dict) and isinstance(have, dict):
        for key in sorted(set(want) | set(have)):
            found = _first_difference(want.get(key), have.get(key), f"{path}.{key}" if path else key)
            if found is not None:
                return found
        return None
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        for number, (a, b) in enumerate(zip(want, have, strict=True)):
            found = _first_difference(a, b, f"{path}[{number}]")
            if found is not None:
                return found
        return None
    return None if want == have else (path or "statement")
