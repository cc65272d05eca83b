"""Where the tool finds its layout and keeps what it makes, wherever it is installed (a checkout, pip, pipx,
an RPM): never derived from the package's own location, so nothing is ever written inside it. The rule, as
docs/install.md states it:

- the layout: `--layout`, else `$ALTAI_LAYOUT`, else `repo-layout/altai.toml` at the git root of the
  current directory (as tito finds `.tito/`), else one error naming the places tried;
- the release tree: `--out`, else `out/` in the repository that keeps the layout (beside its
  `repo-layout/`), or beside a layout file kept anywhere else;
- the state (development key, build-root bases, mock's caches): `--state-dir`, else `$ALTAI_STATE_DIR`,
  else the user's state directory ($XDG_STATE_HOME/altai-release, through platformdirs);
- downloads of the lookaside: the user's cache directory ($XDG_CACHE_HOME/altai-release/downloads).
A checkout's `tools/*.py` set `ALTAI_STATE_DIR` to its `.state/` (tools/_bootstrap.py): it works as it did."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from altai_release.core.errors import InputError

APP = "altai-release"
LAYOUT_ENV = "ALTAI_LAYOUT"
STATE_ENV = "ALTAI_STATE_DIR"
LAYOUT_DIR, LAYOUT_FILE = "repo-layout", "altai.toml"


@dataclass(frozen=True)
class Places:
    layout: Path
    out: Path
    state_dir: Path


def git_root(start: Path) -> Path | None:
    """The top of the work tree holding `start`, found as git finds it (a `.git` directory or file), without
    running git: the current directory is not a place to run somebody's repository configuration in."""
    here = start.absolute()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def find_layout(given: Path | None, cwd: Path | None = None) -> Path:
    if given is not None:
        return given
    tried = ["--layout (not given)", f"${LAYOUT_ENV} (not set)"]
    from_env = os.environ.get(LAYOUT_ENV)
    if from_env:
        return Path(from_env)
    where = (cwd or Path.cwd()).absolute()
    root = git_root(where)
    if root is not None:
        candidate = root / LAYOUT_DIR / LAYOUT_FILE
        if candidate.is_file():
            return candidate
        tried.append(f"{candidate} (absent)")
    else:
        tried.append(f"{LAYOUT_DIR}/{LAYOUT_FILE} at the git root of {where} (in no git work tree)")
    raise InputError(f"no release layout found: tried {', '.join(tried)}; name one with --layout FILE")


def default_out(layout: Path) -> Path:
    home = layout.absolute().parent
    if home.name == LAYOUT_DIR:
        home = home.parent
    return home / "out"


def state_dir(given: Path | None) -> Path:
    if given is not None:
        return given.absolute()
    from_env = os.environ.get(STATE_ENV)
    if from_env:
        return Path(from_env).absolute()
    import platformdirs  # only when no directory is named

    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def places(layout: Path | None, out: Path | None, state: Path | None) -> Places:
    found = find_layout(layout)
    return Places(found, out if out is not None else default_out(found), state_dir(state))
