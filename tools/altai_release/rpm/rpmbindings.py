"""The rpm Python bindings, loaded once.

In the venv `import rpm` is a shim that finds Debian's bindings and re-executes itself as them; two
threads importing it for the first time at once can see a half-loaded module (no TransactionSet). The
bindings also cost ~60 ms to load, which a run that never reads a header should not pay."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_module: Any = None


def rpm_bindings() -> Any:
    global _module
    if _module is None:
        with _lock:
            if _module is None:
                import rpm

                _module = rpm
    return _module
