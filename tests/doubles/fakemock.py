#!/usr/bin/env python3
"""FakeMock: a named test double of Fedora's mock, which cannot run on Debian (no EL mirror, no chroot). It
behaves as mock does in what the tool relies on, as read in mock's own source (mock/py/mockbuild/config.py,
exception.py, backend.py):

- the command line `-r CFG [--configdir DIR] [--uniqueext U] --resultdir R --rebuild SRPM` (and
  `--debug-config`), any other option refused as mock's optparse refuses it (exit 2);
- the config loaded as mock loads it: `site-defaults.cfg` of the config directory first, then CFG, every
  `include('X')` replaced by the text of X *relative to the config directory* (not to the including
  file), a missing one `ERROR: Could not find included config file: PATH`, exit 3 (ConfigError);
  `yum.conf` and `dnf.conf` one key;
- the root `config_opts['root']`, plus `-UNIQUEEXT` when given;
- `build.log` (only `Mock Version` unless rpmbuild ran), `root.log`, `state.log` and `hw_info.log` always in
  the result directory, each error in the log mock puts it in: a missing BuildRequires in root.log and exit
  30 (YumError), an rpmbuild failure in build.log and rpmbuild's own exit status;
- the build: the config's macros and environment (dist, build host, SOURCE_DATE_EPOCH) applied to rpmbuild;
  the results are the binary RPMs and the rebuilt SRPM, as mock returns them;
- SIGTERM: it stops, as mock does, with 128 + the signal.

Its record (FAKE_MOCK_RECORD, one JSON line a call) lets a test see the argv, the config text and the root.
FAKE_MOCK_CHECK_BUILDREQUIRES=1 resolves BuildRequires against the config's file:// repositories and
FAKE_MOCK_BASE (what the chroot's base provides); FAKE_MOCK_SLEEP=N waits N seconds before building (a long
build; only for SRPMs named FAKE_MOCK_SLEEP_FOR* when that is set); FAKE_MOCK_FAIL=1 makes the build fail in
%install (FAKE_MOCK_FAIL_FOR=NAME: only NAME's)."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from typing import Any

VERSION = "6.7 (FakeMock)"
TERMINATED: list[int] = []


def _text(path: str) -> str:
    with open(path) as f:
        return f.read()


def _terminate(signum: int, _frame: object) -> None:
    TERMINATED.append(signum)
    sys.exit(128 + signum)


_INCLUDE = re.compile(r"^\s*include\((.*)\)", re.MULTILINE)


class ConfigError(Exception):
    exit_code = 3


class Options(dict[str, Any]):
    """config_opts: mock's nested option dicts, `yum.conf` an alias of `dnf.conf`."""

    def _key(self, key: str) -> str:
        return "dnf.conf" if key == "yum.conf" else key

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(self._key(key))

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(self._key(key), value)


def include(config_file: str, search_path: str, seen: set[str]) -> str:
    """mock's include(): relative to the config directory; nested includes replaced by their text."""
    if not os.path.isabs(config_file):
        config_file = os.path.join(search_path, config_file)
    if not os.path.exists(config_file):
        raise ConfigError(f"Could not find included config file: {config_file}")
    if config_file in seen:
        return ""
    seen.add(config_file)
    with open(config_file) as f:
        content = f.read()
    for argument in _INCLUDE.findall(content):
        sub = include(eval(argument), search_path, seen)  # noqa: S307 - mock evaluates it the same way
        content = _INCLUDE.sub(sub, content, count=1)  # as mock does: the text is the replacement template
    return content


def _included(*_: object) -> None:
    """include() in the text left to exec(): every include was replaced by its file's text already."""


def load(config: str, configdir: str) -> Options:
    opts = Options(macros={}, environment={}, plugin_conf={}, **{"dnf.conf": "[main]\n"})
    opts["config_path"] = configdir
    for path in (os.path.join(configdir, "site-defaults.cfg"), config):
        if path != config and not os.path.exists(path):
            continue
        text = include(os.path.realpath(path), configdir, set())
        try:
            exec(text, {"config_opts": opts, "include": _included})  # noqa: S102 - mock does exec()
        except Exception as exc:  # noqa: BLE001 - mock reports any error of the config this way
            raise ConfigError(f"Config error: {path}: {exc}") from exc
    if "root" not in opts:
        raise ConfigError(f"Config error: {config}: option config_opts['root'] must be present in your config.")
    return opts


def option(args: list[str], name: str, default: str | None = None) -> str | None:
    return args[args.index(name) + 1] if name in args else default


def provided_by_repositories(opts: Options) -> set[str]:
    repos = configparser.ConfigParser(interpolation=None, strict=False)
    repos.read_string(str(opts["dnf.conf"]))
    provided = set(os.environ.get("FAKE_MOCK_BASE", "").split())
    for section in repos.sections():
        url = repos[section].get("baseurl", "")
        where = urllib.parse.unquote(urllib.parse.urlparse(url).path)
        if url.startswith("file://") and os.path.exists(os.path.join(where, "repodata", "repomd.xml")):
            for name in os.listdir(where):
                if name.endswith(".rpm"):
                    provided |= query("[%{PROVIDENAME}\n]", os.path.join(where, name))
    return provided


def query(fmt: str, path: str) -> set[str]:
    out = subprocess.run(["rpm", "-qp", "--qf", fmt, path], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


# the options of mock's own parser (mock/py/mock.py) that the tool may pass, with whether they take a value;
# anything else mock's optparse refuses (exit 2), and so does FakeMock
_OPTIONS = {"-r": True, "--root": True, "--configdir": True, "--uniqueext": True, "--resultdir": True,
            "--rebuild": False, "--debug-config": False}  # fmt: skip


def check_command_line(args: list[str]) -> str | None:
    """What mock's parser would refuse in `args`, or None."""
    it = iter(args)
    for arg in it:
        if arg.startswith("-"):
            if arg not in _OPTIONS:
                return f"no such option: {arg}"
            if _OPTIONS[arg] and next(it, None) is None:
                return f"{arg} option requires 1 argument"
    return None


def main(args: list[str]) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    refused = check_command_line(args)
    if refused:
        print(f"Usage: mock [options] {{--rebuild SRPM ...}}\nmock: error: {refused}", file=sys.stderr)
        return 2
    config = option(args, "-r")
    configdir = option(args, "--configdir", "/etc/mock")
    assert config, args
    assert configdir, args
    result = option(args, "--resultdir")
    record: dict[str, Any] = {
        "argv": [sys.argv[0], *args],
        "config": _text(config) if os.path.exists(config) else "",
    }
    logs = {}
    if result:
        os.makedirs(result, exist_ok=True)
        # closed when the build ends, as mock keeps its logs open
        logs = {name: open(os.path.join(result, name), "w") for name in ("build.log", "root.log", "state.log")}  # noqa: SIM115
        logs["build.log"].write(f"Mock Version: {VERSION}\n")
        logs["root.log"].write(f"INFO buildroot.py:489:  Mock Version: {VERSION}\n")
        with open(os.path.join(result, "hw_info.log"), "w") as hw:
            hw.write(f"CPU info:\n  {os.cpu_count()} cpus\n")
    try:
        try:
            opts = load(config, configdir)
        except ConfigError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return exc.exit_code
        record["config_root"] = str(opts["root"])  # what mock keys its caches by
        record["root"] = str(opts["root"]) + (f"-{option(args, '--uniqueext')}" if "--uniqueext" in args else "")
        if "--debug-config" in args:
            print(json.dumps({k: v for k, v in opts.items() if isinstance(v, (str, int, bool, dict))}, default=str))
            return 0
        srpm = option(args, "--rebuild")
        assert srpm, args
        assert result, args
        logs["state.log"].write("INFO: Start: init plugins\nINFO: Start: chroot init\n")
        if os.environ.get("FAKE_MOCK_CHECK_BUILDREQUIRES"):
            provided = provided_by_repositories(opts)
            missing = sorted(n for n in query("[%{REQUIRENAME}\n]", srpm) if n not in provided and "(" not in n)
            if missing:
                for name in missing:
                    logs["root.log"].write(f"DEBUG util.py:446:  No matching package to install: '{name}'\n")
                logs["root.log"].write("DEBUG util.py:446:  Error: Unable to find a match\n")
                print("ERROR: Command failed: \n # /usr/bin/dnf builddep ...", file=sys.stderr)
                return 30
        if os.path.basename(srpm).startswith(os.environ.get("FAKE_MOCK_SLEEP_FOR", "")):
            time.sleep(float(os.environ.get("FAKE_MOCK_SLEEP", "0")))
        logs["state.log"].write("INFO: Start: rpmbuild\n")
        top = tempfile.mkdtemp(prefix="fakemock-")
        try:
            defines = [a for name, value in opts["macros"].items() for a in ("--define", f"{name.lstrip('%')} {value}")]
            fail_for = os.environ.get("FAKE_MOCK_FAIL_FOR")
            if os.environ.get("FAKE_MOCK_FAIL") or (fail_for and os.path.basename(srpm).startswith(fail_for)):
                defines += ["--define", "__spec_install_pre exit 1"]
            env = {**os.environ, **opts["environment"]}
            proc = subprocess.run(["rpmbuild", "--nodeps", "--define", f"_topdir {top}", *defines, "--rebuild", srpm],
                                  capture_output=True, text=True, env=env)  # fmt: skip
            logs["build.log"].write(proc.stdout + proc.stderr)
            if proc.returncode:
                logs["state.log"].write("INFO: Finish: rpmbuild\nERROR: Command failed\n")
                print(f"ERROR: Exception(...) Config({opts['root']}) ...\nERROR: Command failed: ...", file=sys.stderr)
                return proc.returncode  # mock passes rpmbuild's own exit status on
            for directory, _, files in os.walk(os.path.join(top, "RPMS")):
                for name in files:
                    shutil.copy(os.path.join(directory, name), result)
            shutil.copy(srpm, result)  # mock returns the SRPM it rebuilt in the chroot beside the binaries
            logs["state.log"].write("INFO: Finish: rpmbuild\n")
            return 0
        finally:
            shutil.rmtree(top, ignore_errors=True)
    finally:
        for log in logs.values():
            log.close()
        record["terminated"] = bool(TERMINATED)
        if os.environ.get("FAKE_MOCK_RECORD"):
            with open(os.environ["FAKE_MOCK_RECORD"], "a") as rec:
                rec.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
