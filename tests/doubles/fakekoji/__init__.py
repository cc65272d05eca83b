"""FakeKojiHub, a named test double of a Koji hub (see hub.py), and the certificates its tests use."""

from .certs import make_certificates
from .hub import FakeKojiHub

__all__ = ["FakeKojiHub", "make_certificates"]
