"""metadata/NAME-VERSION.cdx.json: the release's CycloneDX 1.6 SBOM, valid by cyclonedx-python-lib's strict
JSON validator, listing exactly the release's files with their digests, each binary depending on its SRPM,
each SRPM we made naming its git commit; the same bytes from the same inputs; --verify refuses an SBOM whose
list or digests differ from the tree."""

from __future__ import annotations

import json
import shutil

from altai_testlib import build
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def test_the_release_sbom_is_valid_cyclonedx_and_lists_exactly_the_tree(release, state_dir, gnupghome):
    out = release["out"]
    # a local checkout with a remote: the SBOM names the remote (its token removed), not this machine's path
    release["lib"].git("remote", "add", "origin", "https://ci:s3cret@git.example/altai/libaltai.git")
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    path = out / "metadata" / "altai-9.9.cdx.json"
    text = path.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    sbom = json.loads(text)
    assert sbom["specVersion"] == "1.6"
    assert sbom["metadata"]["tools"]["components"][0]["name"] == "altai-release"
    by_ref = {c["bom-ref"]: c for c in sbom["components"]}
    assert set(by_ref) == {e["path"] for e in manifest["packages"]}
    for entry in manifest["packages"]:
        component = by_ref[entry["path"]]
        assert component["hashes"] == [{"alg": "SHA-256", "content": entry["sha256"]}]
        assert component["purl"].startswith(f"pkg:rpm/altai/{entry['name']}@{entry['version']}-{entry['release']}?")
        assert f"arch={entry['arch']}" in component["purl"]
        assert component["supplier"]["name"]
    devel = "deps/misc/libaltai-devel-1.2-1.el6.x86_64.rpm"
    depends = {d["ref"]: d.get("dependsOn", []) for d in sbom["dependencies"]}
    assert depends[devel] == ["deps/misc-srpms/libaltai-1.2-1.el6.src.rpm"]
    srpm = by_ref["deps/misc-srpms/libaltai-1.2-1.el6.src.rpm"]
    assert srpm["externalReferences"][0]["type"] == "vcs"
    assert srpm["externalReferences"][0]["url"] == "https://git.example/altai/libaltai.git"
    assert "s3cret" not in text
    assert str(release["lib"].path) not in text
    app = by_ref[next(e["path"] for e in manifest["packages"] if e["origin"] == "altai-app" and e["arch"] == "src")]
    assert app["externalReferences"][0]["url"] == str(release["app"].path)  # no remote: the path it has
    assert srpm["externalReferences"][0]["comment"].startswith("commit ")
    assert all(c["licenses"] for c in sbom["components"])  # every RPM has a License tag

    first = path.read_bytes()
    assert build(release, state_dir, gnupghome, "--all", "--rebuild").returncode == 0
    assert path.read_bytes() == first  # the same packages: the same bytes, whatever the clock says


def test_verify_refuses_an_sbom_that_differs_from_the_tree(release, state_dir, gnupghome, tmp_path):
    out = release["out"]
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    copy = tmp_path / "tree"
    shutil.copytree(out.resolve(), copy, symlinks=True)
    sbom = copy / "metadata" / "altai-9.9.cdx.json"
    data = json.loads(sbom.read_text())
    data["components"][0]["hashes"][0]["content"] = "0" * 64
    sbom.write_text(json.dumps(data, indent=2))
    run = build(release, state_dir, gnupghome, "--verify", str(copy))
    assert run.returncode != 0
    assert "altai-9.9.cdx.json" in run.stdout + run.stderr
