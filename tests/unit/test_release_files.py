"""The files a release holds besides its packages, made in-process from two real RPM versions (rpmbuild, once
per module): the header read without the bindings against the bindings, the target gate, repodata through
createrepo_c, compose metadata read back with productmd, the notes' changelog between two versions, and
the SBOM against the manifest."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from altai_release.core.errors import AltaiError, VerificationError
from altai_release.release.attest.sbom import make_sbom, sbom_differences, sbom_files
from altai_release.release.publish.compose_metadata import write_compose_metadata
from altai_release.release.publish.notes import NOTES_HTML, NOTES_MD, markdown, noted_changes, write_notes
from altai_release.rpm.compat import check_target, problems
from altai_release.rpm.manifest import Manifest
from altai_release.rpm.readback import payload_files, read_header, read_nevra
from altai_release.rpm.repodata import read_packages, repomd_records, write_repodata
from altai_release.rpm.rpmheader import read_identity
from unitlib import LAYOUT


def test_the_header_reader_agrees_with_the_bindings(releases):
    top, manifest = releases["1.1"]
    for e in manifest.entries:
        path = top / e.path
        ident, hdr = read_identity(path), read_header(path)
        assert ident.nevra == read_nevra(path) == e.nevra
        assert ident.source == (e.arch == "src")
        assert ident.license == hdr["license"] == "MIT and (GPLv2+ or BSD)"
        assert ident.buildtime == hdr["buildtime"]
        assert ident.sourcerpm == (hdr["sourcerpm"] or "")
    binary = next(e for e in manifest.entries if e.arch != "src")
    assert read_identity(top / binary.path).sourcerpm == "tool-1.1-1.el6.src.rpm"


def test_what_is_not_a_package_is_one_error(tmp_path, releases):
    top, manifest = releases["1.0"]
    whole = (top / manifest.entries[0].path).read_bytes()
    for name, data, said in (
        ("empty.rpm", b"", "no lead"),
        ("lead.rpm", whole[:96] + b"nothing", "no header where one belongs"),
        ("cut.rpm", whole[:200], "cut short"),
    ):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(AltaiError, match=said):
            read_identity(tmp_path / name)


def test_payload_files_name_the_spec(releases):
    top, manifest = releases["1.0"]
    srpm = next(e for e in manifest.entries if e.arch == "src")
    files = list(payload_files(top / srpm.path))
    assert [(name, is_spec) for name, is_spec, _ in files] == [("tool-1.0.spec", True)]
    assert b"Version: 1.0" in files[0][2]
    assert list(payload_files(top / srpm.path, spec_only=True))[0][0] == "tool-1.0.spec"
    binary = next(e for e in manifest.entries if e.arch != "src")
    assert [(n, data) for n, _, data in payload_files(top / binary.path)][-1] == ("/usr/share/tool/version", b"1.0\n")


def test_the_target_gate_names_what_an_old_rpm_cannot_read(releases):
    top, manifest = releases["1.0"]
    path = top / manifest.entries[0].path
    assert problems(path, "4.99") == []
    too_old = problems(path, "2.0")
    assert any("payload" in p for p in too_old)
    with pytest.raises(VerificationError, match=r"the target's rpm 2.0 cannot read it"):
        check_target([path], "2.0", "tool")
    check_target([path], None, "tool")


def test_repodata_lists_the_packages_and_reuses_what_it_may(releases, tmp_path):
    top, _ = releases["1.0"]
    repo = tmp_path / "repo"
    repo.mkdir()
    for rpm_file in (top / "centos6").glob("*.rpm"):
        (repo / rpm_file.name).write_bytes(rpm_file.read_bytes())
    assert read_packages(repo) == {}
    assert write_repodata(repo, {}, 7) == 1
    packages = read_packages(repo)
    assert [p.name for p in packages.values()] == ["tool"]
    assert write_repodata(repo, packages, 8) == 0  # the same file: its metadata is reused
    hrefs = [href for href, _, _ in repomd_records(repo / "repodata" / "repomd.xml")]
    assert all(h.startswith("repodata/") for h in hrefs)
    assert any("primary" in h for h in hrefs)


def test_compose_metadata_is_what_productmd_reads(releases):
    from productmd.composeinfo import ComposeInfo
    from productmd.rpms import Rpms

    top, manifest = releases["1.1"]
    write_compose_metadata(top, LAYOUT, manifest)
    info, rpms = ComposeInfo(), Rpms()
    info.load(str(top / "metadata" / "composeinfo.json"))
    rpms.load(str(top / "metadata" / "rpms.json"))
    assert info.compose.id == "altai-1.0.2-20240201.101112"
    mapped = rpms.rpms["centos6"]["x86_64"]
    assert list(mapped) == ["tool-0:1.1-1.el6.src"]
    assert sorted(mapped["tool-0:1.1-1.el6.src"]) == ["tool-0:1.1-1.el6.noarch", "tool-0:1.1-1.el6.src"]


def test_the_notes_carry_the_changelog_between_the_versions(releases):
    old_top, old = releases["1.0"]
    top, new = releases["1.1"]
    changes = noted_changes(LAYOUT, old, new, top, old_top)
    assert [(c.kind, c.name, c.old, c.new) for c in changes] == [("upgraded", "tool", "1.0-1.el6", "1.1-1.el6")]
    assert [(c.author, c.text) for c in changes[0].changelog] == [("Bob <bob@example.org>", "faster; smaller")]
    # without the old file, the name lines' versions tell where the new entries stop
    assert [c.text for c in noted_changes(LAYOUT, old, new, top, None)[0].changelog] == ["faster; smaller"]
    write_notes(LAYOUT, new, old, top, old_top)
    notes, page = (top / NOTES_MD).read_text(), (top / NOTES_HTML).read_text()
    assert "faster; smaller" in notes
    assert "1.0-1.el6" in notes
    assert 'href="centos6/tool-1.1-1.el6.noarch.rpm"' in page
    first = markdown(LAYOUT, new, Manifest("altai", "0"), top, None)  # against nothing: all added
    assert "1 added, 0 removed, 0 upgraded" in first
    assert "**tool**.noarch (centos6): 1.1-1.el6" in first


def test_the_sbom_lists_exactly_the_release(releases):
    top, manifest = releases["1.1"]
    text = make_sbom(top, LAYOUT, manifest, "0.1.0")
    assert make_sbom(top, LAYOUT, manifest, "0.1.0") == text  # no clock, no random
    data = json.loads(text)
    assert data["specVersion"] == "1.6"
    assert sbom_files(text) == {e.path: e.sha256 for e in manifest.entries}
    assert sbom_differences(text, manifest) == []
    binary = next(c for c in data["components"] if "arch=noarch" in c["purl"])
    assert binary["purl"] == "pkg:rpm/altai/tool@1.1-1.el6?arch=noarch&distro=altai-1.0.2"
    assert binary["licenses"] == [{"license": {"name": "MIT and (GPLv2+ or BSD)"}}]  # not SPDX: said as written
    srpm = next(c for c in data["components"] if "arch=src" in c["purl"])
    assert srpm["externalReferences"][0]["type"] == "vcs"
    assert {"ref": binary["bom-ref"], "dependsOn": [srpm["bom-ref"]]} in data["dependencies"]
    changed = replace(manifest.entries[0], sha256="0" * 64)
    other = Manifest("altai", "1.1", [changed, manifest.entries[1]])
    assert sbom_differences(text, other) == [f"the SHA-256 of {changed.path} differs from the file's"]
    assert sbom_differences(text, Manifest("altai", "1.1", manifest.entries[:1])) == [
        f"lists {manifest.entries[1].path}, which the release does not hold"
    ]
    assert sbom_differences("[", manifest)[0].startswith("not a CycloneDX JSON document")


def test_changelog_text_in_the_notes_is_plain_text_that_markdown_shows_as_is():
    """Authors came out as `&lt;release@altai.example&gt;` in the plain-text notes."""
    from altai_release.core.templates import _author, _md

    assert _author("Altai Release Team <release@altai.example>") == "Altai Release Team (release@altai.example)"
    assert _md("<b>x</b> & [a](http://e.example) &amp; *y*") == (
        "\\<b\\>x\\</b\\> & \\[a\\](http://e.example) \\&amp; \\*y\\*"
    )
