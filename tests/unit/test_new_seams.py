"""Pure parts of four features: the list a served release is fetched by, the record that keeps a --sign-key
rotation, the build root read from a Koji hub's listing, and kojid's mock build time."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from altai_release.core.errors import InputError, SigningError


def test_a_served_sha256sums_is_read_as_plain_paths_inside_the_tree():
    from altai_release.release.check.served_tree import _listed

    digest = "a" * 64
    text = f"{digest}  centos6/a-1-1.el6.noarch.rpm\n{digest}  centos6/repodata/repomd.xml\n"
    assert _listed(text, "http://m/") == {
        "centos6/a-1-1.el6.noarch.rpm": digest,
        "centos6/repodata/repomd.xml": digest,
    }
    for bad in (
        f"{digest}  ../etc/passwd",
        f"{digest}  /etc/passwd",
        f"{digest}  a//b",
        "zz  a",
        f"{digest}  SHA256SUMS",
    ):
        with pytest.raises(InputError, match="not a line of a release's SHA256SUMS"):
            _listed(bad + "\n", "http://m/")
    with pytest.raises(InputError, match="lists no file"):
        _listed("", "http://m/")
    with pytest.raises(InputError, match="'centos6/a' as a file and as a directory"):
        _listed(f"{digest}  centos6/a\n{digest}  centos6/a/b\n", "http://m/")


def _identity(name: str, fingerprint: str, keyring: object = None) -> SimpleNamespace:
    return SimpleNamespace(key_name=name, fingerprint=fingerprint, keyring=keyring)


def test_a_sign_key_rotation_is_recorded_and_a_plain_run_may_not_undo_it(tmp_path):
    from altai_release.signing import rotation

    layout = SimpleNamespace(keys={"altai": SimpleNamespace(id="Old Key")}, file=Path("altai.toml"))
    new, old = _identity("altai", "N" * 40), _identity("altai", "O" * 40)
    assert rotation.load(tmp_path) == {}
    rotation.save(tmp_path, [new], layout, "New Key")  # type: ignore[arg-type,list-item]
    record = rotation.load(tmp_path)
    assert record["altai"] == {"fingerprint": "N" * 40, "layout_id": "Old Key", "sign_key": True}
    with pytest.raises(SigningError, match="a rotation made with --sign-key"):
        rotation.refuse_undoing(record, [old], layout, None, tmp_path)  # type: ignore[arg-type,list-item]
    rotation.refuse_undoing(record, [old], layout, "Old Key", tmp_path)  # type: ignore[arg-type,list-item]
    rotation.refuse_undoing(record, [new], layout, None, tmp_path)  # type: ignore[arg-type,list-item]
    moved = SimpleNamespace(keys={"altai": SimpleNamespace(id="N" * 40)}, file=Path("altai.toml"))
    rotation.refuse_undoing(record, [old], moved, None, tmp_path)  # type: ignore[arg-type,list-item]  # the layout moved on
    (tmp_path / rotation.RECORD).write_text("not json")
    assert rotation.load(tmp_path) == {}


class _Hub:
    def call(self, what, function, *args, **kwargs):
        return function(*args, **kwargs)


def test_a_koji_builds_root_is_the_hubs_listing_of_its_arch_tasks_roots():
    from altai_release.builders.kojiroot import hub_build_root

    session = SimpleNamespace(
        getTaskChildren=lambda task: [{"id": 8, "method": "buildArch"}, {"id": 9, "method": "tagBuild"}],
        listBuildroots=lambda taskID: [{"id": 3, "tag_name": "t-el6-build"}] if taskID == 8 else [],
        listRPMs=lambda componentBuildrootID: [
            {
                "name": "b",
                "version": "1",
                "release": "1",
                "epoch": None,
                "arch": "x86_64",
                "payloadhash": "ab",
                "external_repo_name": "INTERNAL",
            },
            {
                "name": "a",
                "version": "2",
                "release": "1",
                "epoch": 1,
                "arch": "noarch",
                "payloadhash": "cd",
                "external_repo_name": "centos6-base",
            },
        ],
    )
    root = hub_build_root(_Hub(), session, 7)  # type: ignore[arg-type]
    assert [(p.nevra, p.digest, p.repository) for p in root] == [
        ("a-1:2-1.noarch", "cd", "centos6-base (koji)"),
        ("b-1-1.x86_64", "ab", "t-el6-build (koji)"),
    ]


def test_kojids_rebuild_gets_the_srpms_build_time(tmp_path):
    from altai_release.builders.kojimock import _with_build_time

    config = tmp_path / "kojid.cfg"
    config.write_text("config_opts['root'] = 'x'\n")
    assert _with_build_time(["-r", str(config), "--init"], tmp_path / "ours.cfg") == ["-r", str(config), "--init"]


@pytest.mark.parametrize(
    ("remote", "said"),
    [
        ("https://ci:s3cret@git.example/a.git", "https://git.example/a.git"),
        ("https://ci@git.example/a.git", "https://git.example/a.git"),
        ("ssh://git:pw@git.example/a.git", "ssh://git.example/a.git"),
        ("ssh://git@git.example/a.git", "ssh://git@git.example/a.git"),
        ("/srv/a.git", None),
    ],
)
def test_a_local_checkouts_public_url_is_its_remote_without_credentials(tmp_path, remote, said):
    import subprocess

    from altai_release.git import GitSource

    subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True)
    subprocess.run(["git", "-C", str(tmp_path / "r"), "remote", "add", "origin", remote], check=True)
    source = GitSource.open(str(tmp_path / "r"), tmp_path / "clone")
    try:
        assert source.public_url() == said
    finally:
        source.close()
