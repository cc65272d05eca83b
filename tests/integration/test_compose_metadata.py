"""metadata/composeinfo.json and metadata/rpms.json, in productmd's format, read back by productmd itself:
one variant per binary repository, every package of the manifest under its variant and its SRPM, with the
short key id of its signature; two releases of one version and day have two compose ids."""

from __future__ import annotations

import json
import time

from altai_testlib import LIB_SPEC, build
from productmd.composeinfo import ComposeInfo
from productmd.rpms import Rpms


def test_compose_metadata_is_what_productmd_reads(release, state_dir, gnupghome):
    out = release["out"]
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    info, rpms = ComposeInfo(), Rpms()
    info.load(str(out / "metadata" / "composeinfo.json"))
    rpms.load(str(out / "metadata" / "rpms.json"))
    assert info.release.short == "altai"
    assert info.release.version == "9.9"
    assert info.compose.id.startswith("altai-9.9-" + manifest["published"][:10].replace("-", ""))
    assert sorted(info.variants.variants) == ["centos6", "misc"]  # the binary repositories (ids: alphanumeric)
    assert info.variants["misc"].paths.source_repository["x86_64"] == "deps/misc-srpms"
    listed = {
        path: (variant, srpm, facts["sigkey"], facts["category"])
        for variant, arches in rpms.rpms.items()
        for srpms in arches.values()
        for srpm, packages in srpms.items()
        for path, facts in ((f["path"], f) for f in packages.values())
    }
    assert set(listed) == {e["path"] for e in manifest["packages"]}
    for entry in manifest["packages"]:
        variant, srpm, sigkey, category = listed[entry["path"]]
        assert sigkey == entry["signer_keyid"][-8:].lower()
        assert category == ("source" if entry["arch"] == "src" else "binary")
        assert srpm.startswith(entry["origin"] if entry["name"] != "libaltai-devel" else "libaltai")
    assert listed["deps/misc/libaltai-devel-1.2-1.el6.x86_64.rpm"][1] == "libaltai-0:1.2-1.el6.src"

    time.sleep(1.1)  # a compose id tells releases apart by the second of their publication
    release["lib"].commit({"libaltai.spec": LIB_SPEC.replace("Release: 1%", "Release: 2%")})
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    second = ComposeInfo()
    second.load(str(out / "metadata" / "composeinfo.json"))
    assert second.compose.id != info.compose.id
