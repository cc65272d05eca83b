"""The host-derived base with more of the host (`[buildroot] host_packages`): those packages' files in one more
RPM that provides the names the layout gives, without the host's configuration files; a package the host does
not have is one error naming it."""

from __future__ import annotations

import subprocess

import pytest
from altai_release.builders.bases.hostroot import host_root
from altai_release.core.errors import InputError
from altai_release.layout import load_layout
from altai_testlib import ROOT, TEST_LAYOUT_HEAD


def _layout(tmp_path, host_packages: str):
    layout = tmp_path / "layout" / "altai.toml"
    layout.parent.mkdir()
    (layout.parent / "el6.macros").write_text((ROOT / "repo-layout/macros/el6.macros").read_text())
    text = TEST_LAYOUT_HEAD.replace('[buildroot]\nbase = "host"\n', f'[buildroot]\nbase = "host"\n{host_packages}')
    layout.write_text(text)
    return load_layout(layout)


def test_host_packages_come_in_with_their_names_and_without_the_hosts_configuration(tmp_path):
    layout = _layout(tmp_path, '[buildroot.host_packages]\nopenssl = ["openssl", "openssl-tools"]\n')
    repo = host_root(layout, tmp_path / "state").shown[0] / "repo"
    (extras,) = repo.glob("altai-host-extras-*.rpm")
    query = ["rpm", "-qp", "--qf", "[%{FILENAMES}\\n]", str(extras)]
    files = subprocess.run(query, capture_output=True, text=True, check=True).stdout.split()
    assert "/usr/bin/openssl" in files
    assert "/etc/ssl/openssl.cnf" not in files  # the host's configuration, as its administrator left it
    provides = subprocess.run(["rpm", "-qp", "--provides", str(extras)], capture_output=True, text=True, check=True)
    assert {"openssl", "openssl-tools"} <= {line.split()[0] for line in provides.stdout.splitlines()}


def test_a_host_package_the_host_does_not_have_is_one_error_naming_it(tmp_path):
    layout = _layout(tmp_path, '[buildroot.host_packages]\nno-such-package-here = "x"\n')
    with pytest.raises(InputError, match=r"no-such-package-here not installed on this host \(apt-get install"):
        host_root(layout, tmp_path / "state")
