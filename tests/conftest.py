"""Fixtures of the tooling tests live in altai_testlib; importing them here makes pytest see them."""

from altai_testlib import gnupghome, make_repo, no_agents_left_behind, release, state_dir  # noqa: F401
from kojitestlib import certs, hub  # noqa: F401
