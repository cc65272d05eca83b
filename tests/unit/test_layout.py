"""The layout's errors name the key and what was expected."""

from __future__ import annotations

import re
import textwrap

import pytest
from altai_release.core.errors import InputError
from altai_release.layout import load_layout

LAYOUT = """\
[release]
name = "altai"
version = "1"
mock_chroot = "epel-6-x86_64"

[keys.altai]
id = "Altai"

[repositories.centos6]
path = "centos6"
signed_by = "altai"
content = "own"
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[packages.x]\ngit = "/r"\nrepository = "nope"\n', "packages.x.repository: 'nope' is not a repository"),
        ('[packages.x]\ngit = "-x"\nrepository = "centos6"\n', "packages.x.git: expected a path or URL"),
        (
            '[packages.x]\nrepository = "centos6"\n',
            "packages.x: expected exactly one of git (a repository with a spec) or srpm",
        ),
        ('[packages.x]\ngit = "/r"\nrepository = "centos6"\ncolour = 1\n', "packages.x.colour: unknown key"),
        ('[repositories.other]\npath = "../up"\nsigned_by = "altai"\ncontent = "own"\n', "relative path inside"),
        ('[repositories.other]\npath = "o"\nsigned_by = "k2"\ncontent = "own"\n', "'k2' is not a key"),
        (
            '[upstreams.u]\nurl = "ftp://x"\nkey = "altai"\nrepository = "centos6"\npackages = ["a"]\n',
            "expected an http",
        ),
        # the layout is input too: what reaches a spec, a path or a command is plain (issue 37)
        ('[repositories.l]\npath = "logs"\nsigned_by = "altai"\ncontent = "own"\n', "'logs' is not a repository's"),
        ('[repositories.m]\npath = "metadata/x"\nsigned_by = "altai"\ncontent = "own"\n', "not a repository's"),
        ('[repositories.r]\npath = "a/repodata"\nsigned_by = "altai"\ncontent = "own"\n', "not a repository's"),
        ('[repositories.d]\npath = "."\nsigned_by = "altai"\ncontent = "own"\n', "relative path inside"),
        ('[repositories.e]\npath = "a//b"\nsigned_by = "altai"\ncontent = "own"\n', "relative path inside"),
        ('[repositories.n]\npath = "a\\nb"\nsigned_by = "altai"\ncontent = "own"\n', "not a repository's"),
        # more of the host in the host-derived base (issue 51): Debian names, and what each provides
        ('[buildroot]\nbase = "mock"\n[buildroot.host_packages]\ngit = "git"\n', 'with base = "host" only'),
        ('[buildroot]\nbase = "host"\n[buildroot.host_packages]\n"Git;x" = "git"\n', "a Debian package name"),
        ('[buildroot]\nbase = "host"\n[buildroot.host_packages]\ngit = []\n', "the names it provides"),
        ('[buildroot]\nbase = "host"\n[buildroot.host_packages]\ngit = ["a b"]\n', "expected a name"),
        ('[buildroot]\nbase = "host"\nhost_packages = ["git"]\n', "expected a table of Debian package"),
    ],
)
def test_layout_errors_name_the_key_and_what_was_expected(tmp_path, extra, message):
    layout = tmp_path / "altai.toml"
    layout.write_text(LAYOUT + textwrap.dedent(extra))
    with pytest.raises(InputError) as caught:
        load_layout(layout)
    assert str(caught.value).startswith(f"{layout}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("name", "../../tmp/x", "release.name: expected a package name"),
        ("name", "altai\\nRequires: evil", "release.name: expected a package name"),
        ("version", "1.0\\nRequires: evil", "release.version: expected a version"),
        ("version", "1-2", "release.version: expected a version"),
        ("version", "%(id)", "release.version: expected a version"),
        ("dist", "%(touch /tmp/x)", "release.dist: expected a dist tag"),
        ("mock_chroot", "../epel-6", "release.mock_chroot: expected a mock chroot name"),
    ],
)
def test_release_names_that_reach_a_spec_or_a_path_are_plain(tmp_path, key, value, message):
    layout = tmp_path / "altai.toml"
    text = LAYOUT.replace('mock_chroot = "epel-6-x86_64"\n', "")
    defaults = {"name": "altai", "version": "1", "mock_chroot": "epel-6-x86_64", "dist": ".el6"}
    lines = "".join(f'{k} = "{value if k == key else v}"\n' for k, v in defaults.items())
    layout.write_text(text.replace('[release]\nname = "altai"\nversion = "1"\n', f"[release]\n{lines}"))
    with pytest.raises(InputError, match=re.escape(message)):
        load_layout(layout)
    plain = "".join(f'{k} = "{v}"\n' for k, v in defaults.items())
    layout.write_text(text.replace('[release]\nname = "altai"\nversion = "1"\n', f"[release]\n{plain}"))
    assert load_layout(layout).name == "altai"  # the control


def test_host_packages_are_read_with_what_they_provide(tmp_path):
    layout = tmp_path / "altai.toml"
    extra = '[buildroot]\nbase = "host"\n[buildroot.host_packages]\ngpg = "gnupg2"\ngit = ["git", "git-core"]\n'
    layout.write_text(LAYOUT + extra)
    assert load_layout(layout).buildroot.host_packages == (("git", ("git", "git-core")), ("gpg", ("gnupg2",)))
