"""Bad input and faults found by an adversarial probe of git2srpm and build.py: each gets one `error:` line
naming the culprit, no traceback, and leaves nothing behind (or, where the input is valid after all, works).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from altai_testlib import (
    TOOLS,
    Run,
    app_spec,
    assert_one_line_error,
    build,
    build_argv,
    dnf,
    packages_and_keys,
    run_tool,
    spec,
    srpm_with,
    tree,
)


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    return tmp_path / "out"


# -- refs, repositories, file names --------------------------------------------------------------------


def test_reflog_ref_resolves_like_git_does(make_repo, outdir):
    repo = make_repo({"hello.spec": spec(), "a.txt": "a\n"})
    first = repo.git("rev-parse", "HEAD")
    repo.commit({"a.txt": "b\n"})
    run = run_tool("git2srpm.py", "--ref", "HEAD@{1}", "--outdir", str(outdir), str(repo.path))
    assert run.returncode == 0, run.stderr
    run = run_tool("git2srpm.py", "--ref", "HEAD@{yesterday}", "--outdir", str(outdir), str(repo.path))
    assert run.returncode == 0, run.stderr  # the reflog's entries are dated by the (2023) commit clock
    assert_one_line_error(
        run_tool("git2srpm.py", "--ref", "HEAD@{99}", "--outdir", str(outdir), str(repo.path)),
        "unknown ref 'HEAD@{99}'",
    )
    tree_ref = repo.git("rev-parse", f"{first}^{{tree}}")
    assert_one_line_error(
        run_tool("git2srpm.py", "--ref", tree_ref, "--outdir", str(outdir), str(repo.path)), "is a tree, not a commit"
    )


def test_file_name_that_is_not_utf8_is_packed_as_git_stores_it(make_repo, outdir):
    repo = make_repo({"hello.spec": spec()})
    raw = b"caf\xe9.txt"  # Latin-1, not UTF-8
    (repo.path / os.fsdecode(raw)).write_bytes(b"latin-1 name\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "latin-1 file name")
    run = run_tool("git2srpm.py", "--outdir", str(outdir), str(repo.path))
    assert run.returncode == 0, run.stderr
    listing = subprocess.run(
        ["tar", "--quoting-style=literal", "-tzf", str(outdir / "hello-1.0.tar.gz")], capture_output=True, check=True
    )
    assert b"hello-1.0/" + raw in listing.stdout.splitlines()


def test_clone_failure_keeps_gits_reason(outdir):
    run = run_tool("git2srpm.py", "--outdir", str(outdir), "http://127.0.0.1:9/nothing.git")
    assert_one_line_error(run, "http://127.0.0.1:9/nothing.git: cannot clone: unable to access")


def test_repository_owned_by_another_user_says_so(make_repo, outdir):
    repo = make_repo({"hello.spec": spec()})
    subprocess.run(["chown", "-R", "12345:12345", str(repo.path)], check=True)
    run = run_tool("git2srpm.py", "--outdir", str(outdir), str(repo.path))
    assert_one_line_error(run, str(repo.path), "owned by another user", "safe.directory")


def test_repository_config_does_not_run_programs(make_repo, outdir, tmp_path):
    """A local repository's own config names an fsmonitor hook and a filter driver: neither runs."""
    marker = tmp_path / "ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\ncat\n')
    hook.chmod(0o755)
    repo = make_repo({"hello.spec": spec(), ".gitattributes": "*.txt filter=evil\n", "a.txt": "a\n"})
    repo.git("config", "core.fsmonitor", str(hook))
    repo.git("config", "filter.evil.clean", str(hook))
    repo.git("config", "filter.evil.smudge", str(hook))
    marker.unlink(missing_ok=True)  # git add ran the filter while the test made the repository
    os.utime(repo.path / "a.txt", (1, 1))  # stat-dirty: git diff would run the clean filter on it
    (repo.path / "hello.spec").write_text(spec(version="2.0"))  # and really dirty
    run = run_tool("git2srpm.py", "--outdir", str(outdir), str(repo.path))
    assert run.returncode == 0, run.stderr
    assert "uncommitted changes" in run.stderr
    assert not marker.exists(), marker.read_text()


# -- git2srpm's output and signals ---------------------------------------------------------------------


def test_outdir_holding_a_directory_named_like_the_srpm_leaves_nothing(make_repo, outdir):
    repo = make_repo({"hello.spec": spec()})
    (outdir / "hello-1.0-1.src.rpm").mkdir(parents=True)
    run = run_tool("git2srpm.py", "--outdir", str(outdir), str(repo.path))
    assert_one_line_error(run, str(outdir / "hello-1.0-1.src.rpm"), "not a regular file")
    assert sorted(p.name for p in outdir.iterdir()) == ["hello-1.0-1.src.rpm"]


def test_sigterm_leaves_nothing_behind(make_repo, outdir, tmp_path):
    slow = spec().replace("%description", "%global pause %(sleep 30)\n%description")
    repo = make_repo({"hello.spec": slow})
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(TOOLS / "git2srpm.py"), "--outdir", str(outdir), str(repo.path)],
        env={**os.environ, "TMPDIR": str(tmpdir)},
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not list(outdir.glob(".git2srpm-*/work/top")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # inside the sandboxed spec reader by now
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "error: terminated"
    assert not outdir.exists()  # the run made it, and took it away again
    assert list(tmpdir.iterdir()) == []


# -- command line ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "args", "fragment"),
    [
        ("git2srpm.py", ["--define", "-x y", "."], "--define"),
        ("build.py", ["--jobs", "abc", "x"], "--jobs"),
        ("build.py", ["--wait", "nan", "x"], "--wait"),
        ("build.py", ["--wait", "-1", "x"], "--wait"),
        ("build.py", ["--no-such-option"], "--no-such-option"),
        # an option of one mode without that mode did nothing, silently
        ("build.py", ["--base-repos", "base.repo", "x"], "--base-repos goes with --accept"),
        ("build.py", ["--against", "new.json", "x"], "--against goes with --diff OLD or --notes OLD"),
    ],
)
def test_usage_errors_are_one_line(tool, args, fragment):
    run = run_tool(tool, *args)
    assert run.returncode == 2
    assert_one_line_error(run, fragment)
    assert "usage:" not in run.stderr


def test_out_that_is_root_or_a_file(release, state_dir, gnupghome, tmp_path):
    assert_one_line_error(run_tool("build.py", "--layout", str(release["layout"]), "--out", "/", "libaltai"), "--out /")
    a_file = tmp_path / "a-file"
    a_file.write_text("x\n")
    run = run_tool(
        "build.py",
        "--layout",
        str(release["layout"]),
        "--out",
        str(a_file),
        "--state-dir",
        str(state_dir),
        "libaltai",
        env={"GNUPGHOME": str(gnupghome)},
    )
    assert_one_line_error(run, str(a_file), "not a directory")
    assert not a_file.with_name("a-file.store").exists()


def test_out_that_holds_other_files_is_refused_and_kept(release, state_dir, gnupghome, tmp_path):
    """--out naming a directory of someone's files: it was adopted into the store and then pruned away (no
    manifest). Now it is refused before anything is written, and every file stays."""
    precious = tmp_path / "D"
    (precious / "sub").mkdir(parents=True)
    (precious / "important.txt").write_text("precious\n")
    release["out"] = precious
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, f"--out {precious}: exists and is not a release tree of this tool")
    assert run.returncode == 2
    assert (precious / "important.txt").read_text() == "precious\n"
    assert (precious / "sub").is_dir()
    assert not precious.is_symlink()
    assert not tmp_path.joinpath("D.store").exists()
    # a store beside it that is not ours is refused too, and kept
    release["out"] = tmp_path / "E"
    (tmp_path / "E.store").mkdir()
    (tmp_path / "E.store" / "notes.txt").write_text("mine\n")
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, "E.store: exists, is not empty (notes.txt) and has no .altai-release-store")
    assert (tmp_path / "E.store" / "notes.txt").read_text() == "mine\n"
    # the controls: an empty directory becomes the release, and a release tree made by an older version (a
    # plain directory with its manifest) is adopted into the store as a release of its own
    empty = tmp_path / "F"
    empty.mkdir()
    release["out"] = empty
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    assert empty.is_symlink()
    assert (empty / "manifest.json").is_file()
    plain = tmp_path / "G"
    shutil.copytree(empty.resolve(), plain)
    release["out"] = plain
    assert build(release, state_dir, gnupghome, "altai-app").returncode == 0
    assert plain.is_symlink()
    assert list((tmp_path / "G.store" / "releases").glob("adopted-*"))


@pytest.mark.parametrize("where", ["cwd", "dot", "checkout", "holds-checkout", "home"])
def test_out_that_is_a_place_of_its_own_is_refused(release, state_dir, gnupghome, tmp_path, where):
    """`--out .` and `--out ''` removed the whole checkout (.git, .venv, the development key). The tool runs
    from a copy of its checkout, with HOME, under tmp_path: were the refusal broken, only copies would go. The
    checkout is refused as the git work tree the tool runs in (it knows no checkout of its own)."""
    from altai_testlib import ROOT

    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "tools", checkout / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    run_in = checkout / "tools" if where in ("checkout", "holds-checkout") else tmp_path / "work"
    home, cwd = tmp_path / "home", tmp_path / "work"
    for place in (home, cwd):
        place.mkdir()
        (place / "keep.txt").write_text("kept\n")
    out = {"cwd": cwd, "dot": Path("."), "checkout": checkout, "holds-checkout": tmp_path, "home": home}[where]
    shown = cwd if where == "dot" else out
    before = sorted(p.name for p in shown.iterdir())
    argv = [
        sys.executable,
        str(checkout / "tools" / "build.py"),
        "--layout",
        str(release["layout"]),
        "--out",
        str(out),
        "--state-dir",
        str(state_dir),
        "libaltai",
    ]
    env = {**os.environ, "GNUPGHOME": str(gnupghome), "HOME": str(home)}
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=run_in, env=env, stdin=subprocess.DEVNULL)
    assert_one_line_error(
        Run(proc.returncode, proc.stdout, proc.stderr), "the release tree needs a directory of its own"
    )
    assert proc.returncode == 2
    assert sorted(p.name for p in shown.iterdir()) == before
    assert (cwd / "keep.txt").read_text() == (home / "keep.txt").read_text() == "kept\n"
    assert (checkout / "tools" / "build.py").is_file()


@pytest.mark.parametrize(
    ("tool", "args", "fragment"),
    [
        ("build.py", ["--out", "", "libaltai"], "argument --out: an empty path"),
        ("git2srpm.py", ["--outdir", "", "."], "argument --outdir: an empty path"),
        ("build.py", ["--sign-key", "", "libaltai"], "argument --sign-key: an empty value"),
        ("git2srpm.py", ["--spec", "", "."], "argument --spec: an empty value"),
        ("git2srpm.py", ["--subdir", "", "."], "argument --subdir: an empty value"),
        ("git2srpm.py", ["--lookaside", "", "."], "argument --lookaside: an empty value"),
        ("git2srpm.py", ["--dist", "", "."], "argument --dist: an empty value"),
    ],
)
def test_empty_paths_and_keys_are_usage_errors(tool, args, fragment):
    run = run_tool(tool, *args)
    assert_one_line_error(run, fragment)
    assert run.returncode == 2


def test_out_that_is_not_utf8_is_refused_early(release, state_dir, gnupghome, tmp_path):
    out = os.fsencode(str(tmp_path)) + b"/\xffout"
    argv: list[str | bytes] = [
        sys.executable,
        str(TOOLS / "build.py"),
        "--layout",
        str(release["layout"]),
        "--out",
        out,
        "--state-dir",
        str(state_dir),
        "libaltai",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "GNUPGHOME": str(gnupghome)})
    assert proc.returncode == 2, proc.stderr
    assert "is not UTF-8" in proc.stderr, proc.stderr
    left = os.listdir(os.fsencode(str(tmp_path)))
    assert b"\xffout.store" not in left
    assert b"\xffout" not in left


# -- srpm2git: a tarball that is not ours ---------------------------------------------------------------


def _link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        # each link alone stays inside; through each other they lead out (the check was lexical)
        ({"a": _link("patched-2.1/a", "."), "a/b": _link("patched-2.1/a/b", "..")}, "would pass through the link a"),
        (
            {
                "b": _dir("patched-2.1/b"),
                "b/OUTSIDE": _dir("patched-2.1/b/OUTSIDE"),
                "b/c": _link("patched-2.1/b/c", ".."),
                "b/c/LINK": _link("patched-2.1/b/c/LINK", "y"),
            },
            "would pass through the link b/c",
        ),
        ({"a": _link("patched-2.1/a", "."), "b": _link("patched-2.1/b", "a/..")}, "the link b -> a/.. leaves"),
    ],
)
def test_srpm2git_links_through_links_stay_inside(tmp_path, members, fragment):

    srpm = srpm_with(tmp_path, {"patched-2.1/README": b"old\n", **{f"patched-2.1/{k}": v for k, v in members.items()}})
    target = tmp_path / "DIR" / "target"
    target.parent.mkdir()
    run = run_tool("srpm2git.py", str(srpm), str(target))
    assert_one_line_error(run, fragment)
    assert run.returncode == 2
    assert os.listdir(target.parent) == []  # nothing beside it, nothing above it, and not the one it made


def _xz_bomb(size: int) -> bytes:
    """A .tar.xz of one file of `size` zero bytes, made of concatenated xz streams (each 1 MiB of zeros):
    a few hundred KB that unpack to `size`."""
    import lzma

    info = tarfile.TarInfo("patched-2.1/zeros")
    info.size = size
    block = lzma.compress(b"\0" * (1 << 20))
    parts = [lzma.compress(info.tobuf(format=tarfile.GNU_FORMAT))]
    parts += [block] * (size >> 20)
    parts.append(lzma.compress(b"\0" * 1024))  # the archive's end
    return b"".join(parts)


def test_srpm2git_decompression_bomb_is_refused_in_bounded_memory(tmp_path):
    """A 2 GiB file of zeros in a few hundred KB: refused from its header, before a byte is written."""

    srpm = srpm_with(tmp_path, {"patched-2.1/README": b"old\n"})
    top = srpm.parent.parent
    (top / "SOURCES" / "patched-2.1.tar.xz").write_bytes(_xz_bomb(2 << 30))
    subprocess.run(
        [
            "rpmbuild",
            "--quiet",
            "-bs",
            "--define",
            f"_topdir {top}",
            "--define",
            "dist .el6",
            str(top / "patched.spec"),
        ],
        check=True,
        capture_output=True,
    )
    assert srpm.stat().st_size < 1 << 20
    target, rss = tmp_path / "imported", tmp_path / "rss"
    proc = subprocess.run(
        [
            "/usr/bin/time",
            "-o",
            str(rss),
            "-f",
            "%M",
            sys.executable,
            str(TOOLS / "srpm2git.py"),
            str(srpm),
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    peak = int(rss.read_text().split()[-1]) // 1024
    assert proc.returncode == 2, proc.stderr
    assert "unpacks to 2147483648 bytes, more than one file may (536870912; srpm2git --max-file-mib)" in proc.stderr
    assert peak < 300, f"srpm2git peaked at {peak} MiB"
    assert not [p for p in target.rglob("*") if ".git" not in p.parts]
    # the bound is the user's to set: a small one refuses an ordinary tarball too, by name
    small = srpm_with(tmp_path / "small", {"patched-2.1/README": b"x" * (2 << 20)})
    run = run_tool("srpm2git.py", "--max-file-mib", "1", str(small), str(tmp_path / "small-import"))
    assert_one_line_error(run, "patched-2.1/README unpacks to 2097152 bytes, more than one file may (1048576")


# -- layouts and manifests ------------------------------------------------------------------------------


def test_layout_that_is_not_utf8(release, state_dir, gnupghome):
    layout = release["layout"]
    layout.write_bytes(layout.read_bytes().replace(b'name = "altai"', b'name = "alta\xef"'))
    assert_one_line_error(build(release, state_dir, gnupghome, "libaltai"), str(layout), "not UTF-8")


def test_dotted_package_name_quoted_and_unquoted(release, state_dir, gnupghome, make_repo):
    layout = release["layout"]
    text = layout.read_text()
    lib = make_repo({"probe.pk.spec": spec(name="probe.pk"), "README": "x\n"}).path
    layout.write_text(text + f'\n[packages.probe.pk]\ngit = "{lib}"\nrepository = "misc"\n')
    assert_one_line_error(build(release, state_dir, gnupghome, "libaltai"), 'quoted: [packages."probe.pk"]')
    layout.write_text(text + f'\n[packages."probe.pk"]\ngit = "{lib}"\nrepository = "misc"\n')
    run = build(release, state_dir, gnupghome, "probe.pk", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["packages"][0]["package"] == "probe.pk"


def test_two_repositories_with_one_path(release, state_dir, gnupghome):
    layout = release["layout"]
    layout.write_text(layout.read_text().replace('path = "deps/misc"\n', 'path = "centos6"\n'))
    assert_one_line_error(
        build(release, state_dir, gnupghome, "libaltai"),
        "repositories.misc.path",
        "already the path of repository 'centos6'",
    )


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda m: m["packages"][0].update(name=None), "packages[0].name: expected a non-empty string, found null"),
        (lambda m: m["packages"][0].update(version=2), "packages[0].version: expected a non-empty string, found 2"),
        (lambda m: m["packages"][0].update(epoch="1"), "packages[0].epoch: expected null or an integer"),
        (lambda m: m.update(packages={}), "packages: expected a list"),
        (lambda m: m["packages"][0].pop("arch"), "packages[0]: missing keys arch"),
        (lambda m: m["packages"][0].update(path="../../escape.rpm"), "packages[0].path: expected a relative path"),
        (lambda m: m["packages"][0].update(origin="../x"), "packages[0].origin: expected a package or upstream"),
    ],
)
def test_manifest_with_wrong_values(release, state_dir, gnupghome, tmp_path, mutate, fragment):
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    out = release["out"]
    manifest = json.loads((out / "manifest.json").read_text())
    mutate(manifest)
    bad = tmp_path / "bad-manifest.json"
    bad.write_text(json.dumps(manifest))
    assert_one_line_error(build(release, state_dir, gnupghome, "--diff", str(bad)), str(bad), fragment)
    # the same manifest published: the next build refuses it by name instead of failing somewhere inside
    published = out.resolve() / "manifest.json"
    published.write_text(json.dumps(manifest))
    before = tree(out)
    assert_one_line_error(build(release, state_dir, gnupghome, "libaltai", "--rebuild"), str(published), fragment)
    assert tree(out) == before


# -- publishing: the lock, failures after and during it ------------------------------------------------


def test_lock_message_names_the_run_that_holds_it(release, state_dir, gnupghome):
    """Concurrent runs: each one refused names a run that really published (the kernel's word for it)."""
    env = {**os.environ, "GNUPGHOME": str(gnupghome)}
    argv = build_argv(release, state_dir, "libaltai", "--rebuild")
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    winners = {p.pid for p in procs if p.returncode == 0}
    assert winners
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            assert "another run (pid " in stderr, stderr
            named = int(stderr.split("another run (pid ", 1)[1].split(")", 1)[0])
            assert named in winners, (named, winners, stderr)


def test_failure_after_publishing_does_not_fail_the_run(release, state_dir, gnupghome):
    out = release["out"]
    store = out.with_name(out.name + ".store")
    store.mkdir()
    (store / ".altai-release-store").write_text("ours\n")  # a store of this tool's, whose cache broke
    (store / "cache").write_text("not a directory: the cache record cannot be written\n")
    run = build(release, state_dir, gnupghome, "libaltai")
    assert run.returncode == 0, run.stderr
    assert "published" in run.stderr
    assert "warning: libaltai: cannot record the build cache" in run.stderr
    assert any(p.endswith(".rpm") for p in packages_and_keys(out))


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_names_the_path_and_keeps_the_release(release, state_dir, gnupghome, small_disk):
    release["out"] = small_disk / "out"
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    before = tree(release["out"])
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as fd:  # unbuffered: no write left over for close() to fail on
        try:
            while True:
                fd.write(b"\0" * 65536)
        except OSError:
            pass
    run = build(release, state_dir, gnupghome, "libaltai", "--rebuild")
    assert_one_line_error(run, str(small_disk))
    assert "No space left on device" in run.stderr
    filler.unlink()
    assert tree(release["out"]) == before
    store = small_disk / "out.store"
    assert not list(store.glob("cache/*.tmp"))
    assert not list(store.glob("staging/*"))
    assert build(release, state_dir, gnupghome, "libaltai", "--rebuild").returncode == 0


# -- key rotation ----------------------------------------------------------------------------------------


def test_key_rotation_resigns_what_the_release_keeps(release, state_dir, gnupghome, tmp_path):
    """Build with key A (the development key), then one package with key B: every package of the
    repositories key 'altai' signs carries B, RPM-GPG-KEY-altai is B, and rpmkeys accepts them all."""
    from rpmtools import make_key

    out = release["out"]
    assert build(release, state_dir, gnupghome, "--all").returncode == 0
    make_key(gnupghome, "Altai Rotated Key <rotated@altai.example>")
    run = build(release, state_dir, gnupghome, "libaltai", "--sign-key", "Altai Rotated Key", "--json")
    assert run.returncode == 0, run.stderr
    assert "re-signing" in run.stderr
    published = [out / p for p in packages_and_keys(out) if p.endswith(".rpm")]
    assert len(published) >= 6  # nova-fping, altai-app, libaltai (+devel) and their SRPMs
    db = tmp_path / "rpmdb"
    db.mkdir()
    subprocess.run(["rpmkeys", "--dbpath", str(db), "--import", str(out / "RPM-GPG-KEY-altai")], check=True)
    check = subprocess.run(
        ["rpmkeys", "--dbpath", str(db), "--checksig", *map(str, published)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout
    assert all(line.endswith("digests signatures OK") for line in check.stdout.splitlines()), check.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert len({p["signer_keyid"] for p in manifest["packages"]}) == 1
    # the manifest's checksums are those of the re-signed files
    for entry in manifest["packages"]:
        digest = subprocess.run(["sha256sum", str(out / entry["path"])], capture_output=True, text=True, check=True)
        assert digest.stdout.split()[0] == entry["sha256"], entry["path"]


def test_install_after_rotation_with_dnf(release, state_dir, gnupghome, tmp_path):
    from rpmtools import make_key, served_release

    out = release["out"]
    assert build(release, state_dir, gnupghome, "libaltai", "altai-app").returncode == 0
    make_key(gnupghome, "Altai Rotated Key <rotated@altai.example>")
    # a new altai-app signed with the rotated key: the release changes, libaltai is kept from before
    release["app"].commit({"altai-app.spec": app_spec().replace("Release: 2", "Release: 3")})
    run = build(release, state_dir, gnupghome, "altai-app", "--sign-key", "Altai Rotated Key")
    assert run.returncode == 0, run.stderr
    assert "re-signing 3 published package(s)" in run.stderr  # libaltai, its -devel and its SRPM
    with served_release(out, tmp_path) as reposdir:
        proc = dnf(tmp_path / "installroot", reposdir, "install", "libaltai", "libaltai-devel", "altai-app")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "altai-app-0.5-3.el6.noarch" in proc.stdout
    shutil.rmtree(tmp_path / "installroot", ignore_errors=True)


def test_crafted_tree_entry_named_dotdot_is_refused(make_repo, outdir):
    """git never writes a tree entry named '..', but an object made with --literally can hold one: packed
    as it is, the tarball would name a path above its top directory."""
    repo = make_repo({"hello.spec": spec()})
    spec_blob = repo.git("rev-parse", "HEAD:hello.spec")
    evil_blob = repo.git("hash-object", "-w", "--stdin")  # empty
    entries = b"100644 ..\0" + bytes.fromhex(evil_blob) + b"100644 hello.spec\0" + bytes.fromhex(spec_blob)
    tree_file = repo.path / ".git" / "crafted-tree"
    tree_file.write_bytes(entries)
    tree = repo.git("hash-object", "-t", "tree", "-w", "--literally", str(tree_file))
    commit = repo.git("commit-tree", tree, "-m", "crafted")
    run = run_tool("git2srpm.py", "--ref", commit, "--outdir", str(outdir), str(repo.path))
    assert_one_line_error(run, str(repo.path), f"tree {tree} has an entry named '..'")
    assert not outdir.exists() or not any(outdir.iterdir())


def test_spec_whose_parse_never_ends_is_stopped(tmp_path):
    """A spec's %(...) runs while it is read; one that never returns is killed after the sandbox's
    spec_seconds."""
    from altai_release.core.errors import SpecError
    from altai_release.core.limits import SandboxLimits
    from altai_release.sources import srpm_session as srpmsession
    from altai_release.specfile.rpmbuild import INNER_TOPDIR, Rpmbuild

    specs = tmp_path / "in" / "SPECS"
    build = Rpmbuild(tmp_path / "top", limits=SandboxLimits(spec_seconds=2), inputs={specs: INNER_TOPDIR / "SPECS"})
    build.prepare()
    spec_file = specs / "hang.spec"
    spec_file.write_text(spec().replace("Name:", "%global x %(sleep 600)\nName:"))
    start = time.monotonic()
    hang = "hang.spec: reading the spec took longer than 2s, the sandbox's time limit"
    with pytest.raises(SpecError, match=hang), srpmsession.SrpmSession(build, spec_file, "hang.spec") as session:
        session.info()
    assert time.monotonic() - start < 60


def test_full_disk_during_a_build_is_said_as_such(release, state_dir, gnupghome, small_disk, make_repo):
    """A build that fills the disk failed as 'build failed ... brp-remove-la-files' (or, in signing, 'SIGNATURES
    NOT OK'), exit 3: the user needs to hear that the disk is full."""
    release["out"] = small_disk / "out"
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    before = tree(release["out"])
    install = "mkdir -p %{buildroot}/usr/share/big\nhead -c 3M /dev/urandom > %{buildroot}/usr/share/big/blob"
    big = make_repo({"big.spec": spec(name="big").replace("%files\n", f"{install}\n\n%files\n"), "README": "x\n"})
    release["layout"].write_text(
        release["layout"].read_text() + f'\n[packages.big]\ngit = "{big.path}"\nrepository = "misc"\n'
    )
    run = build(release, state_dir, gnupghome, "big")
    assert_one_line_error(run, str(small_disk / "out.store"), "No space left on device", "did not change")
    assert run.returncode == 1
    assert tree(release["out"]) == before


# -- keys and passphrases ----------------------------------------------------------------------------------


def _gpg(home: Path, *args: str) -> str:
    argv = ["gpg", "--batch", "--yes", "--homedir", str(home), "--pinentry-mode", "loopback", "--passphrase", ""]
    return subprocess.run([*argv, *args], check=True, capture_output=True, text=True).stdout


UID = "Altai Test Release Key"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda h: _gpg(
                h, "--faked-system-time", "20200101T000000", "--quick-gen-key", UID, "rsa2048", "sign", "1d"
            ),
            "(expired 2020-01-02)",
        ),
        (lambda h: _gpg(h, "--quick-gen-key", UID, "rsa2048", "cert", "never"), "no key or subkey of it may sign"),
        ("revoked", "(revoked)"),
    ],
)
def test_key_that_cannot_sign_says_why_and_never_falls_back(release, state_dir, gnupghome, make, reason):
    """The layout's key exists in GNUPGHOME but cannot sign: that is said, and the run does not quietly sign
    with the development key instead (the layout allows one only for a key that is absent)."""
    if make == "revoked":
        _gpg(gnupghome, "--quick-gen-key", UID, "rsa2048", "sign", "never")
        (cert,) = (gnupghome / "openpgp-revocs.d").glob("*.rev")
        cert.write_text(cert.read_text().replace(":-----BEGIN", "-----BEGIN"))  # gpg guards it with a colon
        _gpg(gnupghome, "--import", str(cert))
    else:
        make(gnupghome)
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(run, f"the secret key '{UID}' in {gnupghome} cannot sign", reason)
    assert run.returncode == 4
    assert "DEVELOPMENT" not in run.stderr
    assert tree(release["out"]) == {}


def test_gnupghome_that_is_a_file_and_passphrase_files_that_are_not(release, state_dir, gnupghome, tmp_path):
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x\n")
    run = build(release, state_dir, a_file, "libaltai")
    assert_one_line_error(run, f"GNUPGHOME={a_file} is not a directory")
    for passphrase_file, fragment in (("/dev/zero", "not a regular file"), (str(tmp_path), "a directory")):
        run = build(release, state_dir, gnupghome, "libaltai", "--passphrase-file", passphrase_file)
        assert_one_line_error(run, passphrase_file, fragment)
        assert run.returncode == 2


def test_passphrase_of_one_run_does_not_sign_the_next(release, state_dir, gnupghome, tmp_path):
    """gpg-agent caches a passphrase it was given: a later run with a wrong passphrase file, or none, signed."""
    from rpmtools import make_key

    make_key(gnupghome, UID, "right")
    right, wrong = tmp_path / "right", tmp_path / "wrong"
    right.write_text("right")
    wrong.write_text("wrong")
    assert build(release, state_dir, gnupghome, "libaltai", "--passphrase-file", str(right)).returncode == 0
    before = tree(release["out"])
    run = build(release, state_dir, gnupghome, "libaltai", "--rebuild", "--passphrase-file", str(wrong))
    assert_one_line_error(run, "libaltai: signing failed", "wrong passphrase in --passphrase-file")
    run = build(release, state_dir, gnupghome, "libaltai", "--rebuild")
    assert_one_line_error(run, "libaltai: signing failed", "the key may need a passphrase")
    assert tree(release["out"]) == before
    # the control: the right passphrase still signs, after the wrong ones
    assert (
        build(release, state_dir, gnupghome, "libaltai", "--rebuild", "--passphrase-file", str(right)).returncode == 0
    )


# -- what the release keeps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tamper", ["link", "bytes"])
def test_kept_package_that_changed_is_not_linked_forward(release, state_dir, gnupghome, tmp_path, tamper):
    """A published package replaced by a link to a host file (or its bytes changed): the next release would
    have linked it forward while its manifest and repodata still describe the old package."""
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    out = release["out"]
    (kept,) = list((out / "deps" / "misc").glob("libaltai-1*.rpm"))
    real = kept.resolve()
    if tamper == "link":
        host = tmp_path / "host-secret"
        host.write_text("not a package\n")
        real.unlink()
        real.symlink_to(host)
        fragment = "the published package is a link"
    else:
        data = bytearray(real.read_bytes())
        data[-1] ^= 0xFF
        real.unlink()  # a hard link is shared with the build cache's copy: write a new file in its place
        real.write_bytes(bytes(data))
        fragment = "changed since it was published"
    before = os.readlink(out)
    run = build(release, state_dir, gnupghome, "altai-app")
    assert_one_line_error(run, str(real), fragment, "nothing was published")
    assert run.returncode == 5
    assert os.readlink(out) == before


# -- files named on the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--layout", "/dev/zero", "libaltai"], "/dev/zero: not a regular file; expected the release layout"),
        (["--diff", "/dev/zero"], "/dev/zero: not a regular file; expected the release manifest"),
        (["--layout", "/tmp", "libaltai"], "/tmp: a directory; expected the release layout"),
        (["--diff", "DEEP"], "DEEP: not a release manifest: nested too deeply"),
        (["--diff", "HUGE"], "HUGE: 268435457 bytes, more than a release manifest may have"),
    ],
)
def test_endless_or_hostile_files_named_on_the_command_line(release, state_dir, gnupghome, tmp_path, args, fragment):
    """--layout /dev/zero ran the host into the OOM killer; --diff of 100,000 nested lists was a traceback."""
    deep, huge = tmp_path / "deep.json", tmp_path / "huge.json"
    deep.write_text("[" * 100_000 + " " * 800_000 + "]" * 100_000)  # padded: not refused for its values
    with open(huge, "wb") as f:
        f.truncate(256 * 1024 * 1024 + 1)  # sparse: no disk spent
    args = [a.replace("DEEP", str(deep)).replace("HUGE", str(huge)) for a in args]
    fragment = fragment.replace("DEEP", str(deep)).replace("HUGE", str(huge))
    if "--layout" not in args:
        args = ["--layout", str(release["layout"]), *args]
    argv = [sys.executable, str(TOOLS / "build.py"), "--out", str(release["out"]), "--state-dir", str(state_dir), *args]
    rss = tmp_path / "rss"
    proc = subprocess.run(
        ["/usr/bin/time", "-o", str(rss), "-f", "%M", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "GNUPGHOME": str(gnupghome)},
        timeout=120,
    )
    peak = int(rss.read_text().split()[-1]) // 1024
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(Run(proc.returncode, proc.stdout, proc.stderr), fragment)
    assert peak < 300, f"build.py peaked at {peak} MiB"


def test_a_run_from_inside_the_published_release_is_not_refused(release, state_dir, gnupghome):
    """OUT that is already a release of ours is replaced by moving a link: a shell sitting in the tree loses
    nothing, so the refusal of 'the current directory' is for a plain OUT only."""
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    argv = build_argv(release, state_dir, "libaltai", "--rebuild")
    proc = subprocess.run(
        argv, capture_output=True, text=True, cwd=release["out"], env={**os.environ, "GNUPGHOME": str(gnupghome)}
    )
    assert proc.returncode == 0, proc.stderr


def test_forgetting_passphrases_never_raises(tmp_path):
    """It runs while a failed run unwinds: a key gpg cannot list must not replace the run's own error."""
    from altai_release.signing.keyring import Keyring

    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    Keyring(home).forget_passphrases("0" * 40)  # no such key: gpg fails, and this says nothing


# -- srpm2git: an input carries no orders (issue 37) ------------------------------------------------------


def _hard(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info


def test_srpm2git_never_uses_a_repository_from_the_tarball(tmp_path):
    """A tarball holding `.git/config` with an fsmonitor and a `.git/HEAD` (and a `.GIT` and a nested one):
    srpm2git used that repository, ran the command as root, and left the config for the user's next `git
    status`. The `.git` directories are left out, and the repository is one srpm2git made."""

    marker = tmp_path / "fsmonitor-ran"
    config = f"[core]\n\tfsmonitor = \"/bin/sh -c 'id > {marker}'; false\"\n".encode()
    srpm = srpm_with(
        tmp_path,
        {
            "patched-2.1/README": b"old\n",
            "patched-2.1/.git/config": config,
            "patched-2.1/.git/HEAD": b"ref: refs/heads/main\n",
            "patched-2.1/.GIT/config": config,
            "patched-2.1/sub/.git/config": config,
            "patched-2.1/sub/file": b"kept\n",
        },
    )
    repo = tmp_path / "imported"
    run = run_tool("srpm2git.py", str(srpm), str(repo))
    assert run.returncode == 0, run.stderr
    for dropped in (".git", ".GIT", "sub/.git"):
        assert f"warning: {dropped}: a git repository in patched-2.1.tar.xz, left out" in run.stderr
    assert (repo / "sub" / "file").read_text() == "kept\n"
    assert not (repo / ".GIT").exists()
    assert "fsmonitor" not in (repo / ".git" / "config").read_text()
    assert not (repo / ".git" / "hooks").exists()  # no template
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True)
    assert status.returncode == 0
    assert status.stdout == ""
    assert not marker.exists()


def test_srpm2git_ignores_the_hosts_git_config(tmp_path):
    """The user's global config may name a filter or an fsmonitor: the import's git commands never read it."""

    home = tmp_path / "home"
    home.mkdir()
    marker = tmp_path / "global-fsmonitor-ran"
    (home / ".gitconfig").write_text(f"[core]\n\tfsmonitor = \"/bin/sh -c 'id > {marker}'; false\"\n")
    srpm = srpm_with(tmp_path, {"patched-2.1/README": b"old\n"})
    run = run_tool("srpm2git.py", str(srpm), str(tmp_path / "imported"), env={"HOME": str(home)})
    assert run.returncode == 0, run.stderr
    assert not marker.exists()


def test_srpm2git_copies_a_hard_link_and_removes_the_directory_it_made_on_a_refusal(tmp_path):
    srpm = srpm_with(
        tmp_path,
        {"patched-2.1/README": b"old\n", "patched-2.1/COPYING": _hard("patched-2.1/COPYING", "patched-2.1/README")},
    )
    repo = tmp_path / "imported"
    assert run_tool("srpm2git.py", str(srpm), str(repo)).returncode == 0
    assert (repo / "COPYING").read_text() == "old\n"
    # a refusal leaves nothing: not the directory srpm2git made, nor the ones above it that it made
    bad = srpm_with(
        tmp_path / "bad",
        {"patched-2.1/README": b"old\n", "patched-2.1/x": _hard("patched-2.1/x", "patched-2.1/missing")},
    )
    target = tmp_path / "new" / "deeper" / "imported"
    run = run_tool("srpm2git.py", str(bad), str(target))
    assert_one_line_error(run, "the hard link x names patched-2.1/missing, which is no file before it")
    assert not (tmp_path / "new").exists()


# -- never delete what the tool did not create (issue 37) -------------------------------------------------


def test_out_with_a_manifest_and_other_files_is_refused(release, state_dir, gnupghome, tmp_path):
    """A readable manifest.json (no packages) beside the user's files: run 1 adopted the directory with no
    word, and the third run's prune removed it, files and all. A tree is adopted only when every file in it
    is one this tool writes."""
    precious = tmp_path / "D"
    (precious / "docs").mkdir(parents=True)
    (precious / "docs" / "thesis.tex").write_text("precious\n")
    (precious / "manifest.json").write_text('{"release": "altai", "version": "9.9", "packages": []}\n')
    release["out"] = precious
    run = build(release, state_dir, gnupghome, "libaltai")
    assert_one_line_error(
        run,
        f"--out {precious}: exists and is not a release tree of this tool",
        "docs/thesis.tex is not one of its files",
    )
    assert (precious / "docs" / "thesis.tex").read_text() == "precious\n"
    assert not precious.is_symlink()
    assert not tmp_path.joinpath("D.store").exists()


def test_an_adopted_tree_is_never_pruned(release, state_dir, gnupghome, tmp_path):
    made = tmp_path / "made"
    release["out"] = made
    assert build(release, state_dir, gnupghome, "libaltai").returncode == 0
    plain = tmp_path / "G"
    shutil.copytree(made.resolve(), plain)  # a tree of ours, as an older version left it: a plain directory
    release["out"] = plain
    run = build(release, state_dir, gnupghome, "altai-app")
    assert run.returncode == 0, run.stderr
    (adopted,) = (tmp_path / "G.store" / "releases").glob("adopted-*")
    assert "(never pruned)" in run.stderr
    for rebuilt in ("libaltai", "altai-app", "libaltai", "altai-app"):  # more releases than the store keeps
        assert build(release, state_dir, gnupghome, rebuilt, "--rebuild").returncode == 0
    assert adopted.is_dir()
    assert (adopted / "manifest.json").is_file()


def test_out_on_a_mount_point_is_refused_before_anything_is_built(release, state_dir, gnupghome, tmp_path):
    """--out on a mount point was built and signed, then failed with a complete release left unpublished."""
    point = tmp_path / "mnt"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(point)], check=True)
    try:
        release["out"] = point
        run = build(release, state_dir, gnupghome, "libaltai")
        assert_one_line_error(run, f"--out {point}: a mount point", f"--out {point / 'release'}")
        assert run.returncode == 2
        assert "making the SRPM" not in run.stderr
        assert not (tmp_path / "mnt.store").exists()
    finally:
        subprocess.run(["umount", str(point)], check=True)


def test_a_killed_git2srpm_leaves_nothing_the_next_run_keeps(make_repo, tmp_path):
    """The staging directory of a git2srpm killed outright (SIGKILL) is swept by the next run in that outdir."""
    repo = make_repo({"hello.spec": spec(), "README": "hi\n"})
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(["sleep", "0"])
    proc.wait()
    stale = out / f".git2srpm-{proc.pid}-abcd"  # a pid that is gone
    (stale / "work").mkdir(parents=True)
    alive = out / f".git2srpm-{os.getpid()}-efgh"  # a run that is still going: kept
    alive.mkdir()
    assert run_tool("git2srpm.py", "--outdir", str(out), str(repo.path)).returncode == 0
    assert not stale.exists()
    assert alive.is_dir()


def test_gitattributes_patterns_cannot_hang_or_crash_git2srpm(make_repo, tmp_path):
    """`*a*a*...*b export-ignore` against a 200-character name backtracked for ever (and ignored SIGTERM);
    `[abc export-ignore` was a re.error traceback. git archive takes milliseconds on the same commit."""
    attributes = "*a*a*a*a*a*a*a*a*a*a*a*a*b export-ignore\n[abc export-ignore\n[[:alpha:]]*.md export-ignore\n"
    repo = make_repo(
        {"hello.spec": spec(), "README": "hi\n", "a" * 200: "x\n", "notes.md": "n\n", ".gitattributes": attributes}
    )
    run = run_tool("git2srpm.py", "--outdir", str(tmp_path / "out"), str(repo.path))
    assert run.returncode == 0, run.stderr
    with tarfile.open(tmp_path / "out" / "hello-1.0.tar.gz") as tar:
        names = {m.name for m in tar.getmembers()}
    assert f"hello-1.0/{'a' * 200}" in names
    assert "hello-1.0/notes.md" not in names


def test_export_subst_is_expanded_once_per_format_and_bounded(make_repo, tmp_path):
    """5,000 `$Format:%H$` ran 5,000 git processes (10 s); 1,500 `$Format:%B$` of a 1 MB message reached
    1.27 GB. Now each distinct format is one batch of one git, and what the expansions add is bounded."""
    many = "".join(f"$Format:%H$ {i}\n" for i in range(5000)) + "$Format:%h %s$\n" * 3
    repo = make_repo(
        {"hello.spec": spec(), "README": "hi\n", "stamp.txt": many, ".gitattributes": "stamp.txt export-subst\n"}
    )
    run = run_tool("git2srpm.py", "--outdir", str(tmp_path / "out"), str(repo.path))
    assert run.returncode == 0, run.stderr
    with tarfile.open(tmp_path / "out" / "hello-1.0.tar.gz") as tar:
        extracted = tar.extractfile("hello-1.0/stamp.txt")
        assert extracted is not None
        stamped = extracted.read().decode()
    head = repo.git("rev-parse", "HEAD")
    assert stamped.count(head) == 5000
    assert f"{head[:7]} initial\n" in stamped
    # a 1 MB message, asked for 1,500 times: one error line, in bounded memory
    from altai_testlib import peak_rss_mib

    big = make_repo(
        {
            "hello.spec": spec(),
            "README": "hi\n",
            "stamp.txt": "$Format:%B$\n" * 1500,
            ".gitattributes": "stamp.txt export-subst\n",
        }
    )
    big.write({"README": "again\n"})
    big.git("add", "-A")
    (tmp_path / "message").write_text("x" * (1 << 20))
    big.git("commit", "-q", "-F", str(tmp_path / "message"))
    argv = [sys.executable, str(TOOLS / "git2srpm.py"), "--outdir", str(tmp_path / "big"), str(big.path)]
    status, stderr, peak = peak_rss_mib(argv, tmp_path)
    assert status == 2
    assert "stamp.txt: export-subst makes the archive more than 67108864 bytes larger" in stderr
    assert peak < 300, f"git2srpm peaked at {peak} MiB"


# -- a package publishes only names it owns (issue 37) ----------------------------------------------------

HIJACK_SPEC = """\
Name: hijack
Version: 99
Release: 1%{?dist}
Summary: A package that publishes others' names
License: MIT
Source0: %{name}-%{version}.tar.gz
BuildArch: noarch
%description
Hijack.
%package -n good
Summary: good
%description -n good
Good.
%package -n TAKEN
Summary: taken
%description -n TAKEN
Taken.
%prep
%setup -q
%install
mkdir -p %{buildroot}/etc/yum.repos.d
echo "[evil]" > %{buildroot}/etc/yum.repos.d/evil.repo
%files
%files -n good
%files -n TAKEN
/etc/yum.repos.d/evil.repo
"""


@pytest.mark.parametrize("taken", ["altai-release", "altai-app", "libaltai-devel"])
def test_a_package_publishes_only_names_it_owns(release, state_dir, gnupghome, make_repo, taken):
    """`%package -n altai-release` published altai-release-99 (with an extra .repo file), signed by the team
    key, credited to the hijack repository, exit 0: every host's yum update took it. The release package, a
    package of the layout, or a name another package publishes: refused, naming both, exit 5."""
    layout = release["layout"]
    if taken == "altai-release":
        layout.write_text(
            layout.read_text().replace(
                'mock_chroot = "epel-6-x86_64"\n', 'mock_chroot = "epel-6-x86_64"\nrelease_package = true\n', 1
            )
        )
    assert build(release, state_dir, gnupghome, "libaltai", "altai-app").returncode == 0
    before = tree(release["out"])
    repo = make_repo({"hijack.spec": HIJACK_SPEC.replace("TAKEN", taken), "README": "x\n"})
    layout.write_text(layout.read_text() + f'\n[packages.hijack]\ngit = "{repo.path}"\nrepository = "centos6"\n')
    run = build(release, state_dir, gnupghome, "hijack")
    assert_one_line_error(run, f"hijack publishes {taken}-99-1.el6.noarch.rpm", "a package publishes only names")
    assert run.returncode == 5
    owner = "libaltai" if taken == "libaltai-devel" else taken
    assert owner in run.stderr.splitlines()[-1]
    assert tree(release["out"]) == before


def test_a_kept_build_log_that_is_a_link_is_not_carried_forward(release, state_dir, gnupghome, tmp_path):
    """A published logs/*/build.log replaced by a link to a host file was linked into the next release."""
    assert build(release, state_dir, gnupghome, "libaltai", "altai-app").returncode == 0
    secret = tmp_path / "host-secret"
    secret.write_text("the host's\n")
    current = release["out"].resolve()
    log = current / "logs" / "libaltai" / "build.log"
    log.unlink()
    log.symlink_to(secret)
    bumped = app_spec().replace("Release: 2%", "Release: 3%")
    release["app"].commit({"altai-app.spec": bumped})
    run = build(release, state_dir, gnupghome, "altai-app")
    assert run.returncode == 0, run.stderr
    assert "logs/libaltai/build.log: a link or not a file: not carried into the new release" in run.stderr
    carried = release["out"].resolve() / "logs" / "libaltai" / "build.log"
    assert not carried.exists()
    assert not carried.is_symlink()
    assert "the host's" not in "".join(
        p.read_text(errors="replace") for p in release["out"].resolve().rglob("*") if p.is_file() and not p.is_symlink()
    )


def test_a_full_disk_in_git2srpm_is_exit_1_naming_the_path(make_repo, small_disk):
    """git2srpm on a full disk exited 2 or 3, sometimes with no reason: as build.py, exit 1 and the path."""
    repo = make_repo({"hello.spec": spec(), "README": "hi\n", "big.bin": os.urandom(3 << 20)})
    out = small_disk / "out"
    out.mkdir()
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as fd, contextlib.suppress(OSError):
        fd.write(b"\0" * ((4 << 20) - (2 << 20)))
    run = run_tool("git2srpm.py", "--outdir", str(out), str(repo.path))
    assert_one_line_error(run, "No space left on device", "nothing was written to")
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1].split(": No space")[0].removeprefix("error: ").startswith(str(small_disk))
    assert os.listdir(out) == []


HOSTILE = r"""
import resource, sys
from pathlib import Path
sys.path.insert(0, "tools")
from altai_release.core.errors import InputError
from altai_release.rpm.manifest import Manifest
body = b'{"format": 1, "release": "a", "version": "1", "packages": [' + b"{}," * (10 << 20) + b"{}]}"
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    Manifest.from_bytes(body, Path("manifest.json"))
except InputError as exc:
    print("refused:", exc)
print("grew KiB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_a_manifest_of_empty_objects_is_refused_before_it_costs_memory():
    """30 MiB of `{},{},...` (10 million objects, 1.4 GB once parsed) is refused by counting, not parsing."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", HOSTILE], capture_output=True, text=True, check=True)
    assert "refused: manifest.json: not a release manifest: 20971530 values in" in done.stdout, done.stdout
    grew = int(done.stdout.rsplit("grew KiB", 1)[1])
    assert grew < 200 * 1024, f"{grew} KiB"
