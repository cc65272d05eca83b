"""One fping process for all the addresses of a request."""

import ipaddress
import os
import subprocess
from typing import Dict, Iterable, List


class FpingUnavailable(Exception):
    """fping is missing, not executable, or failed (exit status 2 to 4): the API answers 503."""


def canonical(address: str) -> str:
    """The one spelling of an address (raises ValueError for anything that is not an IP address)."""
    return str(ipaddress.ip_address(address.strip()))


class FpingProber:
    def __init__(self, path: str = "/usr/bin/fping", timeout_ms: int = 500, retries: int = 1) -> None:
        self.path = path
        self.timeout_ms = int(timeout_ms)
        self.retries = int(retries)

    def argv(self, addresses: List[str]) -> List[str]:
        # -t: per-target timeout, -r: retries, -B1: no back-off, so that the time is bounded and known
        return [self.path, "-t", str(self.timeout_ms), "-r", str(self.retries), "-B1"] + addresses

    def probe(self, addresses: Iterable[str]) -> Dict[str, bool]:
        """{address: alive} for every address; one fping process, never a shell."""
        targets = sorted({canonical(a) for a in addresses})
        if not targets:
            return {}
        if not (os.path.isfile(self.path) and os.access(self.path, os.X_OK)):
            raise FpingUnavailable("fping is not installed or not executable at %s" % self.path)
        deadline = (self.retries + 1) * self.timeout_ms / 1000.0 * max(1, len(targets)) + 30
        try:
            proc = subprocess.run(  # noqa: S603 - an argv list of canonical addresses, no shell
                self.argv(targets),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                universal_newlines=True,
                timeout=deadline,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FpingUnavailable("fping could not run: %s" % exc) from exc
        if proc.returncode not in (0, 1):
            tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise FpingUnavailable("fping failed with exit status %d: %s" % (proc.returncode, tail))
        alive = dict.fromkeys(targets, False)
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "is":
                try:
                    address = canonical(parts[0])
                except ValueError:
                    continue
                if address in alive:
                    alive[address] = parts[2] == "alive"
        return alive
