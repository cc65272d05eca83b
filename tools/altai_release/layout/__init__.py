"""The release description (repo-layout/*.toml): its typed model and its reader."""

from altai_release.layout.model import (
    CONTENT_KINDS,
    PackageEntry,
    ReleaseLayout,
    Repository,
    SigningKey,
    SrpmOrigin,
    Upstream,
)
from altai_release.layout.read import load_layout

__all__ = [
    "CONTENT_KINDS",
    "PackageEntry",
    "ReleaseLayout",
    "Repository",
    "SigningKey",
    "SrpmOrigin",
    "Upstream",
    "load_layout",
]
