"""Binary builders behind one protocol: Fedora's mock (clean chroot) and the sandboxed local rpmbuild."""

from __future__ import annotations

import shutil

from ..errors import InputError
from .base import Builder, BuildJob, BuildOutput
from .local import LocalBuilder
from .mock import MockBuilder

__all__ = ["BuildJob", "BuildOutput", "Builder", "LocalBuilder", "MockBuilder", "choose_builder_kind"]


def choose_builder_kind(requested: str) -> str:
    """auto: mock where it is installed (an EL/Fedora build host), else the local rpmbuild."""
    if requested == "auto":
        return "mock" if shutil.which("mock") else "rpmbuild"
    if requested == "mock" and not shutil.which("mock"):
        raise InputError("--builder mock: mock is not installed on this machine (use --builder rpmbuild)")
    if requested not in ("mock", "rpmbuild"):
        raise InputError(f"unknown builder {requested!r} (auto, mock or rpmbuild)")
    return requested
