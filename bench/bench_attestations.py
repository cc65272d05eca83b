"""What the release's SBOM and signed provenance cost, beside the steps every package already takes in the
same run (none of the peer tools, tito, fedpkg, Koji with pungi, mock or createrepo_c, writes either, so
the comparison is with our own per-package work): for PACKAGES binary packages, rpmsign of all of them
(one process, as the pipeline signs a build), createrepo_c metadata of them, the SBOM, the provenance
statements made and signed (one gpg per statement), and their check as --verify does it (one gpgv each)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from common import ROOT, Timing, median_time, print_table

sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))

PACKAGES = 50


def main() -> list[Timing]:
    from altai_release.layout import load_layout
    from altai_release.release.attest.provenance import write_provenance
    from altai_release.release.attest.sbom import make_sbom
    from altai_release.release.check.attestation_check import check_provenance
    from altai_release.release.check.treefiles import TreeFiles
    from altai_release.rpm.manifest import Manifest, ManifestEntry
    from altai_release.rpm.readback import read_facts
    from altai_release.rpm.repodata import write_repodata
    from altai_release.signing.assignment import KeyResolver, sign_packages
    from altai_release.signing.trust import TrustSources
    from rpmtools import build_rpm

    layout = load_layout(ROOT / "repo-layout" / "altai.toml")
    with tempfile.TemporaryDirectory(prefix="bench-attest-") as name:
        work = Path(name)
        built = build_rpm(work, "benchtool")  # the tests' own: rpmbuild, noarch
        resolver = KeyResolver(state_dir=work / "state", gnupghome=work / "no-keys")
        identity = resolver.resolve(layout.keys["altai"])
        tree = work / "tree"
        repo = tree / "centos6"
        repo.mkdir(parents=True)
        files = [repo / f"benchtool{i}-1.0-1.noarch.rpm" for i in range(PACKAGES)]
        for path in files:
            shutil.copyfile(built, path)

        def rpmsign() -> None:
            sign_packages(identity, files)

        timings = [median_time(f"rpmsign of {PACKAGES} packages", rpmsign, 3)]
        facts = [read_facts(p) for p in files]
        entries = [
            ManifestEntry(
                "centos6",
                f"centos6/{p.name}",
                "benchtool",
                f.nevra.name,
                None,
                "1.0",
                "1",
                "noarch",
                f.sha256,
                f.header_sha256,
                "altai",
                f.signer_keyid,
                source={"kind": "git", "url": "https://example.org/x.git", "ref": "HEAD", "commit": "c" * 40},
                build={"builder": "local"},
            )
            for p, f in zip(files, facts, strict=True)
        ]
        manifest = Manifest(layout.name, layout.version, entries)
        public = identity.keyring.export_public(identity.fingerprint)
        (tree / "RPM-GPG-KEY-altai").write_bytes(public)

        def metadata() -> None:
            write_repodata(repo, {}, 1)

        def sbom() -> None:
            make_sbom(tree, layout, manifest, "bench")

        def provenance() -> None:
            write_provenance(tree, layout, manifest, identity)

        timings.append(median_time(f"createrepo_c metadata of {PACKAGES}", metadata, 3))
        timings.append(median_time(f"SBOM of {PACKAGES}", sbom, 3))
        written = median_time(f"provenance of {PACKAGES}: made, signed", provenance, 3)
        timings.append(written)
        failed: list[str] = []

        def check() -> None:
            files_ = TreeFiles(tree, Path(tempfile.mkdtemp(dir=work)), 1 << 30)
            trust = TrustSources(run_keys={"altai": (identity.fingerprint, public)})
            key = trust.pins(layout, files_.work).get("altai")
            check_provenance(layout, files_, manifest, key, lambda rel, why: failed.append(f"{rel}: {why}"))

        timings.append(median_time(f"provenance of {PACKAGES}: checked", check, 3))
        identity.keyring.stop_agent()
        if failed:
            raise SystemExit(f"bench: the statements did not check: {failed[:3]}")
    print_table(f"Attestations of {PACKAGES} packages, beside their signing (same run)", timings, timings[0])
    per = replace(written, name="per package", seconds=written.seconds / PACKAGES)
    print(f"provenance per package: {per.seconds * 1000:.1f} ms")
    return timings


if __name__ == "__main__":
    main()
