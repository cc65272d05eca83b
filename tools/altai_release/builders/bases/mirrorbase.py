"""A base OS mirror's repositories as the build root's base (`[buildroot] base = "mirror"`, `mirror = [URL...]`):
a release engineer's CentOS 6 vault copy, say. The tool writes the chroot config (under the state directory,
named by what it holds); mock's root then comes from EL6's own packages, `@buildsys-build` as EL's mock
configs install it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from altai_release.builders.bases.rootbase import RootBase, generated_config, root_name
from altai_release.layout import ReleaseLayout


def mirror_root(layout: ReleaseLayout, state_dir: Path) -> RootBase:
    repos = [(f"altai-mirror-{i}", f"base OS mirror {url}", url) for i, url in enumerate(layout.buildroot.mirror)]
    text = generated_config("install @buildsys-build", repos, f"The base OS mirror of {layout.name}.")
    digest = hashlib.sha256(text.encode()).hexdigest()
    config = state_dir / "buildroot" / f"mirror-{digest[:16]}.cfg"
    if not config.is_file():
        config.parent.mkdir(parents=True, exist_ok=True)
        partial = config.with_name(f".{config.name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.rename(config)
    shown = tuple(Path(url.removeprefix("file://")) for url in layout.buildroot.mirror if url.startswith("file://"))
    return RootBase(
        "mirror",
        str(config),
        root_name(layout, "mirror", digest),
        (config.parent, *shown),
        "altai-mirror",
        digest,
        f"the base OS mirror {', '.join(layout.buildroot.mirror)}",
    )
