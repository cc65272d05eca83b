"""Binary builders behind one protocol: Fedora's mock (clean chroot), the sandboxed local rpmbuild and a
Koji hub (the build farm; never chosen by `auto`)."""

from __future__ import annotations

from pathlib import Path

from altai_release.builders.builder import Builder, BuildJob, BuildOutput
from altai_release.core.errors import InputError
from altai_release.layout import ReleaseLayout

__all__ = ["BuildJob", "BuildOutput", "Builder", "choose_builder_kind", "make_builder"]


def choose_builder_kind(requested: str) -> str:
    """auto: mock where it can run (the project's or the host's, see `mockinstall`; it runs as root of a user
    namespace, so the tool must run as root), else the local rpmbuild."""
    if requested not in ("auto", "mock", "rpmbuild", "koji"):
        raise InputError(f"unknown builder {requested!r} (auto, mock, rpmbuild or koji)")
    if requested in ("auto", "mock"):
        why = mock_unavailable()
        if why is None:
            return "mock"
        if requested == "mock":
            raise InputError(f"--builder mock: {why} (or use --builder rpmbuild)")
        return "rpmbuild"
    return requested


def mock_unavailable() -> str | None:
    """Why mock cannot run here, or None when it can."""
    from altai_release.builders.mockinstall import MISSING, find_mock
    from altai_release.sandbox.bubblewrap import privileged

    if find_mock() is None:
        return MISSING
    if not privileged():
        return "mock runs as root of a user namespace, which only root can make with a range of ids"
    return None


def base_digest(kind: str, layout: ReleaseLayout, state_dir: Path) -> str | None:
    """What mock's build roots are made from now, by digest (None for another builder)."""
    if kind != "mock":
        return None
    from altai_release.builders.bases import root_base
    from altai_release.builders.mockinstall import find_mock

    install = find_mock()
    configdir = layout.mock_configdir or (install.configdir if install else Path("/etc/mock"))
    return root_base(layout, configdir, state_dir).digest


def make_builder(
    kind: str,
    layout: ReleaseLayout,
    out: Path,
    current: Path | None,
    staging: Path,
    state_dir: Path,
    verification: bool = False,
) -> Builder:
    """The builder of a run. mock's chroot gets the release's published binary repositories (`out`, whose
    current release is `current`), for BuildRequires between our packages, and, for a package that needs
    another of the run, a repository of the run's results under `staging`; its base and caches live in
    `state_dir`. koji's build root gets what the hub's build tag has (README: the external repositories of
    the build tag). For a `verification`, every build is made anew: on Koji, a scratch build (the hub
    refuses a real build of an NVR it holds)."""
    if kind == "koji":
        from altai_release.builders.koji import KojiBuilder  # the koji library loads only for a koji run

        if layout.koji is None:
            raise InputError(f"{layout.file}: --builder koji needs a [koji] table (profile, target, scratch)")
        return KojiBuilder(layout.koji, verification=verification)
    # each builder's module loads when a run builds with it (mock's loads jinja2, koji's the koji library)
    if kind == "mock":
        from altai_release.builders.mock import MockBuilder, MockRepo
        from altai_release.builders.mockinstall import MISSING, find_mock

        install = find_mock()
        if install is None:
            raise InputError(MISSING)
        # the release as it is now (OUT is a link the next publish moves; mock reads the tree it points at)
        repos = [
            MockRepo(f"altai-{name}", f"{layout.name} {name}", (current.resolve() / repo.path).as_uri())
            for name, repo in layout.repositories.items()
            if repo.content != "sources" and current is not None and (current / repo.path / "repodata").is_dir()
        ]
        return MockBuilder(install, layout, state_dir, staging / "run-repo", repos)
    from altai_release.builders.local import LocalBuilder

    return LocalBuilder(layout.macro_files, layout.sandbox)
