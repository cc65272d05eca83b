"""Read one spec file with the rpm bindings and print what the pipeline needs, as JSON.

Runs *inside the sandbox* as a plain script (`python specquery.py SPEC [--define 'NAME VALUE']...
[--macros FILE]... [--then COMMAND...]`), because parsing a spec executes its `%(...)` shell. It imports
nothing from the tooling package so that the sandbox needs only the interpreter and the rpm bindings.

With `--wait`, it starts (interpreter, bindings) before the caller has written the spec, and reads it once
`read` arrives on stdin. With `--then`, after the JSON line it waits for one line on stdin: `run EPOCH`
replaces this process with COMMAND (`rpmbuild -bs` of the same spec) with SOURCE_DATE_EPOCH=EPOCH, in the
same sandbox, once the caller has put the sources in place; anything else ends it. One sandbox for a
package's SRPM, not two.
"""

from __future__ import annotations

import sys

# Every SRPM starts this script: `json` (with `re`) and `typing` would be a third of its start, only to write
# one line of strings, numbers and lists; the line is written with json's own string encoder.
from _json import encode_basestring_ascii

TYPE_CHECKING = False  # mypy reads this name as true; `typing` itself is not imported
if TYPE_CHECKING:
    from typing import Any


def _json(value: object) -> str:
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_json(str(k))}: {_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    raise TypeError(f"no JSON for {type(value).__name__}")


def _arguments(argv: list[str]) -> tuple[str, list[str], list[str], list[str], bool]:
    spec_path = ""
    defines: list[str] = []
    macro_files: list[str] = []
    then: list[str] = []
    wait = False
    it = iter(argv)
    for arg in it:
        if arg == "--wait":
            wait = True
        elif arg == "--then":
            then = list(it)
        elif arg == "--define":
            defines.append(next(it))
        elif arg == "--macros":
            macro_files.append(next(it))
        else:
            spec_path = arg
    return spec_path, defines, macro_files, then, wait


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _provides(header: Any) -> list[str]:
    return [_text(x) for x in header["providename"]]


def _described(rpm: Any, spec: Any) -> dict[str, object]:
    head = spec.sourceHeader
    sources: list[dict[str, object]] = []
    for location, number, flags in spec.sources:
        kind = "patch" if flags & rpm.RPMBUILD_ISPATCH else "source"
        sources.append(
            {"kind": kind, "number": number, "location": _text(location), "nosource": bool(flags & rpm.RPMBUILD_ISNO)}
        )
    build_requires = [
        {"name": _text(name), "flags": int(flags), "version": _text(version)}
        for name, flags, version in zip(head["requirename"], head["requireflags"], head["requireversion"], strict=True)
    ]
    packages: list[dict[str, object]] = [
        {"name": _text(p.header["name"]), "arch": _text(p.header["arch"]), "provides": _provides(p.header)}
        for p in spec.packages
    ]
    epoch = head["epoch"]
    return {
        "name": _text(head["name"]),
        "epoch": None if epoch is None else int(epoch),
        "version": _text(head["version"]),
        "release": _text(head["release"]),
        "sources": sources,
        "build_requires": build_requires,
        "packages": packages,
        "noarch": all(p["arch"] == "noarch" for p in packages),
    }


def main(argv: list[str]) -> int:
    # started with -S (no site: its .pth files cost a third of the start): the system's packages by hand
    import site

    sys.path.extend(p for p in site.getsitepackages() if p not in sys.path)
    import rpm  # imported here: the module must load even where the bindings are absent

    spec_path, defines, macro_files, then, wait = _arguments(argv)
    if wait and sys.stdin.readline().strip() != "read":
        return 0  # the caller stopped before the spec was ready
    for path in macro_files:
        rpm.expandMacro("%{load:" + path + "}")  # the bindings have no loadMacroFile
    for define in defines:
        name, _, value = define.partition(" ")
        rpm.addMacro(name, value)
    try:
        spec = rpm.spec(spec_path)
    except ValueError as exc:
        sys.stderr.write(f"spec does not parse: {exc}\n")
        return 1
    sys.stdout.write(_json(_described(rpm, spec)))
    if not then:
        return 0
    sys.stdout.write("\n")
    sys.stdout.flush()
    order = sys.stdin.readline().split()
    if len(order) != 2 or order[0] != "run" or not order[1].isdigit():
        return 0
    import os

    os.environ["SOURCE_DATE_EPOCH"] = order[1]
    os.execv(then[0], then)  # rpm's state in this process is left behind with it
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
