"""The layout's errors name the key and what was expected."""

from __future__ import annotations

import textwrap

import pytest
from altai_release.errors import InputError
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
    ],
)
def test_layout_errors_name_the_key_and_what_was_expected(tmp_path, extra, message):
    layout = tmp_path / "altai.toml"
    layout.write_text(LAYOUT + textwrap.dedent(extra))
    with pytest.raises(InputError) as caught:
        load_layout(layout)
    assert str(caught.value).startswith(f"{layout}: ") and message in str(caught.value)
