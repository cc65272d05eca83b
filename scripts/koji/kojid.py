"""kojid from Koji's source, unchanged, run by the system python3: scripts/koji/private-koji.sh starts it as
`python3 kojid.py --fg -c KOJID_CONF` with KOJI_SRC naming the unpacked source. kojid imports `multilib`
for multilib repositories only, which Debian does not package; an empty module stands in for it."""

import os
import runpy
import sys
import types

source = os.environ["KOJI_SRC"]
sys.path.insert(0, source)
multilib = types.ModuleType("multilib")
multilib.multilib = None  # type: ignore[attr-defined]
sys.modules["multilib"] = multilib
sys.argv[0] = os.path.join(source, "builder", "kojid")
runpy.run_path(sys.argv[0], run_name="__main__")
