"""The layout's `[koji]` table: which hub profile and build target `--builder koji` uses."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from altai_release.core.tomlreader import TomlReader


@dataclass(frozen=True)
class KojiSettings:
    profile: str  # a section of koji's own config files (/etc/koji.conf.d, ~/.koji/config.d)
    target: str  # the build target: its build tag makes the build root, its destination tag gets real builds
    scratch: bool  # scratch builds are tagged nowhere; real builds are tagged into the target's destination
    config: Path | None = None  # a koji config file read instead of ~/.koji (koji -c)
    poll_interval: float = 6.0  # seconds between two looks at a task or a repository (koji's default)
    wait_repo_minutes: int = 120  # how long a dependent build waits for the build tag's repo (wait-repo's)
    # true: refuse a build tag that rebuilds our SRPM (rebuild_srpm not False), instead of a warning
    require_our_srpm: bool = False


def read_koji(r: TomlReader, data: dict[str, Any], base: Path) -> KojiSettings | None:
    if "koji" not in data:
        return None
    table = r.table(data, "koji")
    r.check_keys(table, "koji", {f.name for f in fields(KojiSettings)})
    config = r.optional_string(data, "koji.config")
    config_path = (base / Path(config).expanduser()).resolve() if config else None
    if config_path is not None and not config_path.is_file():
        raise r.fail("koji.config", f"koji config file {config_path} does not exist")
    interval = table.get("poll_interval", 6.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 < interval <= 600:
        raise r.fail("koji.poll_interval", f"expected seconds from 0 to 600, found {interval!r}")
    return KojiSettings(
        profile=r.string(data, "koji.profile"),
        target=r.string(data, "koji.target"),
        scratch=r.boolean(data, "koji.scratch", False),
        config=config_path,
        poll_interval=float(interval),
        wait_repo_minutes=r.integer(data, "koji.wait_repo_minutes", 120, 1, 24 * 60),
        require_our_srpm=r.boolean(data, "koji.require_our_srpm", False),
    )
