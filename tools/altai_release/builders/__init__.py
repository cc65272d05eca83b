"""Binary builders behind one protocol: Fedora's mock (clean chroot), the sandboxed local rpmbuild and a
Koji hub (the build farm; never chosen by `auto`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from altai_release.builders.builder import Builder, BuildJob, BuildOutput
from altai_release.core.errors import InputError
from altai_release.layout import ReleaseLayout

__all__ = ["BuildJob", "BuildOutput", "Builder", "choose_builder_kind", "make_builder"]


def choose_builder_kind(requested: str) -> str:
    """auto: mock where it is installed (an EL/Fedora build host), else the local rpmbuild."""
    if requested == "auto":
        return "mock" if shutil.which("mock") else "rpmbuild"
    if requested == "mock" and not shutil.which("mock"):
        raise InputError("--builder mock: mock is not installed on this machine (use --builder rpmbuild)")
    if requested not in ("mock", "rpmbuild", "koji"):
        raise InputError(f"unknown builder {requested!r} (auto, mock, rpmbuild or koji)")
    return requested


def make_builder(
    kind: str,
    layout: ReleaseLayout,
    out: Path,
    current: Path | None,
    staging: Path,
    verification: bool = False,
) -> Builder:
    """The builder of a run. mock's chroot gets the release's published binary repositories (`out`, whose
    current release is `current`), for BuildRequires between our packages, and, for a package that needs
    another of the run, a repository of the run's results under `staging`; koji's build root gets what the
    hub's build tag has (README: the external repositories of the build tag). For a `verification`, every
    build is made anew: on Koji, a scratch build (the hub refuses a real build of an NVR it holds)."""
    if kind == "koji":
        from altai_release.builders.koji import KojiBuilder  # the koji library loads only for a koji run

        if layout.koji is None:
            raise InputError(f"{layout.file}: --builder koji needs a [koji] table (profile, target, scratch)")
        return KojiBuilder(layout.koji, verification=verification)
    # each builder's module loads when a run builds with it (mock's loads jinja2, koji's the koji library)
    if kind == "mock":
        from altai_release.builders.mock import MockBuilder, MockRepo

        repos = [
            MockRepo(f"altai-{name}", f"{layout.name} {name}", (out / repo.path).as_uri())
            for name, repo in layout.repositories.items()
            if repo.content != "sources" and current is not None and (current / repo.path / "repodata").is_dir()
        ]
        chroots = sorted({p.mock_chroot for p in layout.packages.values()})
        return MockBuilder(
            layout.templates,
            f"{layout.name} {layout.version}",
            staging / "run-repo",
            repos,
            configdir=layout.mock_configdir,
            chroots=chroots,
            root_prefix=layout.name,
        )
    from altai_release.builders.local import LocalBuilder

    return LocalBuilder(layout.macro_files, layout.sandbox)
