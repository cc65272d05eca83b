"""What a real Koji hub does that a first double did not show, played by FakeKojiHub (whose calls
tests/unit/test_fakekoji_api.py checks against the hub's own listing): it builds an NVR once (a run that
failed late, or a fresh --out, takes the hub's build of the same SRPM), its default build_from_srpm policy,
a build tag that rebuilds our SRPM, a package missing from the destination tag, and kojid's
Fault(1, traceback)."""

from __future__ import annotations

import textwrap

from altai_testlib import LIB_SPEC, assert_one_line_error, build
from fakekoji import FakeKojiHub
from kojitestlib import TARGET, use_koji


def _hub(tmp_path, certs, release, **options) -> FakeKojiHub:
    return FakeKojiHub(
        tmp_path / "hub2", certs, target=TARGET, macro_files=[release["layout"].parent / "el6.macros"], **options
    )


def test_a_second_run_takes_the_hubs_build_of_the_same_srpm(release, state_dir, gnupghome, hub, tmp_path):
    use_koji(release, hub, scratch=False)
    assert build(release, state_dir, gnupghome, "libaltai", "--builder", "koji").returncode == 0
    submitted = len(hub.called("build"))

    fresh = {**release, "out": tmp_path / "fresh-out"}  # a fresh tree and cache: the hub has the NVR already
    run = build(fresh, state_dir, gnupghome, "libaltai", "--builder", "koji")

    assert run.returncode == 0, run.stderr
    assert len(hub.called("build")) == submitted  # not submitted again: Koji would refuse "Build already exists"
    assert "the hub already has koji build libaltai-1.2-1.el6" in run.stderr
    assert "taken from the hub" in run.stdout
    assert (fresh["out"] / "deps" / "misc").is_dir()


def test_an_nvr_the_hub_built_from_another_srpm_is_refused_naming_it(release, state_dir, gnupghome, hub, tmp_path):
    use_koji(release, hub, scratch=False)
    assert build(release, state_dir, gnupghome, "libaltai", "--builder", "koji").returncode == 0
    release["lib"].commit({"lib.txt": "other content, same NVR\n"})

    run = build({**release, "out": tmp_path / "fresh-out"}, state_dir, gnupghome, "libaltai", "--builder", "koji")

    assert_one_line_error(
        run,
        "libaltai: the hub already has koji build libaltai-1.2-1.el6",
        "not built from this SRPM",
        "raise the package's Release",
    )
    assert run.returncode == 3


def test_the_default_build_from_srpm_policy_is_one_line(release, state_dir, gnupghome, certs, tmp_path):
    hub = _hub(tmp_path, certs, release, srpm_builders=())
    try:
        use_koji(release, hub, scratch=False)
        run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    finally:
        hub.stop()
    assert_one_line_error(run, "libaltai: koji task", "policy violation (build_from_srpm)")


def test_a_build_tag_that_rebuilds_our_srpm_is_said_or_refused(release, state_dir, gnupghome, certs, tmp_path):
    hub = _hub(tmp_path, certs, release, rebuild_srpm=True)
    try:
        use_koji(release, hub, scratch=False)
        run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
        assert run.returncode == 0, run.stderr
        assert f"warning: koji build tag {TARGET}-build rebuilds the SRPMs it is given" in run.stderr
        assert f"koji edit-tag {TARGET}-build -x rebuild_srpm=False" in run.stderr
        assert any(t.method == "rebuildSRPM" for t in hub.tasks.values())  # as kojid's getSRPMFromSRPM

        with open(release["layout"], "a") as layout:
            layout.write("require_our_srpm = true\n")  # the [koji] table is the layout's last
        release["lib"].commit({"libaltai.spec": LIB_SPEC.replace("Release: 1%", "Release: 2%")})
        submitted = len(hub.called("build"))
        refused = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    finally:
        hub.stop()
    assert_one_line_error(refused, "rebuilds the SRPMs it is given", "require_our_srpm = true")
    assert len(hub.called("build")) == submitted
    assert not hub.called("checkUpload")[submitted:]


def test_a_package_missing_from_the_destination_tag_is_one_line(release, state_dir, gnupghome, certs, tmp_path):
    hub = _hub(tmp_path, certs, release, packages=["nova-fping"])
    try:
        use_koji(release, hub, scratch=False)
        run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    finally:
        hub.stop()
    assert_one_line_error(
        run,
        f"package libaltai is not in the package list of koji tag {TARGET}-candidate",
        f"koji add-pkg --owner USER {TARGET}-candidate libaltai",
    )
    assert hub.called("build") == []


def test_a_kojid_traceback_is_its_last_line_and_kept_whole(release, state_dir, gnupghome, hub):
    hub.tracebacks.add("libaltai")
    use_koji(release, hub, scratch=True)
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert_one_line_error(run, "libaltai: koji task", "failed: ValueError: the builder broke", ".fault")
    assert "Traceback" not in run.stderr
    kept = next((release["out"].with_name("out.store") / "logs" / "libaltai").glob("koji-task-*.fault"))
    assert kept.read_text().startswith("Traceback (most recent call last):")


def test_the_koji_table_takes_require_our_srpm(release):
    with open(release["layout"], "a") as layout:
        layout.write(
            textwrap.dedent("""
            [koji]
            profile = "altai"
            target = "t"
            require_our_srpm = "yes"
            """)
        )
    run = build(release, release["layout"].parent, release["layout"].parent, "--explain", "libaltai")
    assert_one_line_error(run, "koji.require_our_srpm: expected true or false")


def test_task_outputs_come_through_the_hub_where_topurl_lacks_them(release, state_dir, gnupghome, hub):
    hub.serve_task_outputs = False
    use_koji(release, hub, scratch=True)
    run = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert run.returncode == 0, run.stderr
    assert hub.called("downloadTaskOutput")  # the fallback: the hub's own call, in chunks


def test_the_release_package_skips_a_release_the_hub_holds_with_other_contents(
    release, state_dir, gnupghome, hub, tmp_path
):
    # seen on a real hub: a run from a fresh --out numbers the release package from 1 again, and with another
    # base URL its -1 is not the hub's -1; the package itself has no spec a user could raise the Release in
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('dist = ".el6"\n', 'dist = ".el6"\nrelease_package = true\n', 1))
    use_koji(release, hub, scratch=False)
    first = build(release, state_dir, gnupghome, "libaltai", "--builder", "koji")
    assert first.returncode == 0, first.stderr
    fresh = {**release, "out": tmp_path / "fresh-out"}

    run = build(fresh, state_dir, gnupghome, "libaltai", "--builder", "koji", "--base-url", "https://other.example/")

    assert run.returncode == 0, run.stderr
    assert "altai-release: the build system has koji build altai-release-9.9-1.el6" in run.stderr
    assert "taking the next Release" in run.stderr
    assert sorted(p.name for p in (fresh["out"] / "centos6").glob("altai-release-*")) == [
        "altai-release-9.9-2.el6.noarch.rpm"
    ]
    assert "the hub already has koji build libaltai-1.2-1.el6" in run.stderr  # ours: taken, not renumbered
