"""`--verify`'s (and `--gate`'s) checks of what a release says about itself: the SBOM lists exactly the
release's files with their SHA-256, and every binary package we built has exactly one provenance statement
whose DSSE signature is good by the tree's metadata key (gpgv, which trusts exactly the key it is given) and
whose subject is the published file's name and SHA-256. A statement or an SBOM that is missing, altered,
unreadable or not a plain file is a FAIL naming it; the checks go on."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from altai_release.core.hashing import file_sha256
from altai_release.core.userfiles import KEY_FILE_LIMIT
from altai_release.layout import ReleaseLayout
from altai_release.release.provenance import PAYLOAD_TYPE, PREDICATE_TYPE, PROVENANCE_DIR, statement_names
from altai_release.rpm.manifest import MANIFEST_NAME, Manifest, ManifestEntry
from altai_release.sandbox.beneath import Unsafe, entries
from altai_release.signing.signature_check import detached_verdict

if TYPE_CHECKING:
    from altai_release.release.tree_check import TreeFiles

Fail = Callable[[str, str], None]
STATEMENT_LIMIT = 1 << 20  # one envelope: a few KiB
MAX_SIGNATURES = 4  # ours is one; a rotation could add another


def check_attestations(layout: ReleaseLayout, files: TreeFiles, manifest: Manifest, fail: Fail) -> list[str]:
    """The SBOM and the statements, when the manifest lists them as the release's (else one FAIL naming it);
    the statements that passed."""
    from altai_release.release.sbom import sbom_name

    listed = manifest.attestations
    if listed is None:
        fail(MANIFEST_NAME, "lists no SBOM and no provenance: a release made before they existed (rebuild it "
             "with --rebuild to have them), or a manifest that lost them")  # fmt: skip
        return []
    if listed != {"sbom": sbom_name(layout), "provenance": statement_names(layout, manifest)}:
        fail(MANIFEST_NAME, "its attestations are not the release's SBOM and one statement per binary it built")
    check_sbom(layout, files, manifest, fail)
    return check_provenance(layout, files, manifest, fail)


def check_sbom(layout: ReleaseLayout, files: TreeFiles, manifest: Manifest, fail: Fail) -> None:
    from altai_release.release.sbom import sbom_differences, sbom_name

    rel = sbom_name(layout)
    try:
        text = files.read(rel, 256 << 20).decode("utf-8")
    except (OSError, Unsafe, UnicodeDecodeError) as exc:
        fail(rel, f"the release's SBOM cannot be read: {exc}")
        return
    for why in sbom_differences(text, manifest)[:10]:
        fail(rel, why)


def check_provenance(layout: ReleaseLayout, files: TreeFiles, manifest: Manifest, fail: Fail) -> list[str]:
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
    signer = layout.metadata_signer.name
    try:
        key = files.read(f"RPM-GPG-KEY-{signer}", KEY_FILE_LIMIT)
    except (Unsafe, OSError):
        fail(PROVENANCE_DIR, f"no key to check the statements: the tree has no RPM-GPG-KEY-{signer}")
        return []
    by_path = {e.path: e for e in manifest.entries}
    passed = []
    for binary, rel in expected.items():
        if Path(rel).name not in listing:
            fail(binary, f"has no provenance statement ({rel})")
        elif stat.S_ISREG(listing[Path(rel).name]):
            why = _statement_fault(files, rel, by_path[binary], key, signer)
            if why:
                fail(rel, why)
            else:
                passed.append(rel)
    return passed


def _statement_fault(files: TreeFiles, rel: str, entry: ManifestEntry, key: bytes, signer: str) -> str | None:
    """What is wrong with one statement (None: it is signed and names the published file)."""
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
    if envelope.payload_type != PAYLOAD_TYPE or not envelope.signatures:
        return f"not a signed in-toto envelope (payloadType {envelope.payload_type!r})"
    if len(envelope.signatures) > MAX_SIGNATURES:  # each is a gpgv run: a 1 MiB file could ask for thousands
        return f"holds {len(envelope.signatures)} signatures, more than the {MAX_SIGNATURES} a statement may have"
    work = files.work / "provenance" / Path(rel).name
    work.mkdir(parents=True, exist_ok=True)
    (work / "pae").write_bytes(envelope.pae())
    faults = []
    for number, signature in enumerate(envelope.signatures.values()):
        (work / f"sig{number}").write_bytes(bytes.fromhex(signature.signature))
        why = detached_verdict(key, work / "pae", work / f"sig{number}", files.work / "metadata-key" / signer)
        if why is None:
            break
        faults.append(why)
    else:
        return f"bad signature by {signer}'s key ({'; '.join(faults)})"
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
    return None
