"""Names without files for a build root (`[buildroot] stubs`): a deliberate, documented hole. A package of the
release that another one BuildRequires brings its runtime Requires into the build root, and the host-derived
base has no OpenStack libraries, logrotate or chkconfig: the layout names what may be taken on trust, one
package (`altai-buildroot-stubs`, noarch, no files) provides those names, and every run says which. Nothing
of a stub reaches a package's bytes (it has no files), only dnf's solver; a name the layout does not list
stays one clear error."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from altai_release.builders.bases import hostbase as hb
from altai_release.layout import ReleaseLayout

STUBS = "altai-buildroot-stubs"


def stubs_repo(layout: ReleaseLayout, state_dir: Path) -> Path | None:
    """The local repository of the stub package (made on first use, named by what it provides)."""
    names = layout.buildroot.stubs
    if not names:
        return None
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()
    repo = state_dir / "buildroot" / f"stubs-{digest[:16]}"
    if (repo / "repodata" / "repomd.xml").is_file():
        return repo
    from altai_release.rpm.repodata import write_repodata

    repo.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".making-stubs-", dir=repo.parent))
    try:
        (work / "stage").mkdir()
        package = hb.Package(STUBS, "1", "noarch", names, work / "stage", "Names without files for the build root")
        built = hb.build_rpm(package, f"1.h{digest[:12]}", (), work / "rpmbuild")
        (work / "repo").mkdir()
        shutil.copyfile(built, work / "repo" / built.name)
        write_repodata(work / "repo", {}, hb.EPOCH)
        (work / "repo").chmod(0o755)
        (work / "repo").rename(repo)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return repo
