"""A full disk, and a hit disk quota, named as what they are with what failed."""

from __future__ import annotations

import errno
import os

from altai_release.core.diskfull import as_disk_failure
from altai_release.core.errors import InputError, NoSpaceError, ToolError


def test_a_hit_quota_is_named_as_one(tmp_path):
    quota = OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), str(tmp_path / "out.store" / "f"))
    said = as_disk_failure(quota, tmp_path)
    assert isinstance(said, NoSpaceError)
    assert str(said).startswith(f"{tmp_path}/out.store/f: Disk quota exceeded (a disk quota); the published")
    tool = ToolError("rpmbuild failed", ["rpmbuild"], "error: cannot write: Disk quota exceeded\n")
    assert "Disk quota exceeded (a disk quota)" in str(as_disk_failure(tool, tmp_path))
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "g"))
    assert f"{tmp_path}/g: No space left on device; the published" in str(as_disk_failure(full, tmp_path))
    assert as_disk_failure(InputError("bad ref"), tmp_path) is None
