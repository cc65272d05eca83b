"""The test suite's shared fixtures, as pytest plugins (they must be named here, at the root): the tooling's
(git repositories, a built release, the gpg agents stopped at the end), Koji's (certificates, FakeKojiHub)
and the unit layer's (a small repository and two releases made once)."""

pytest_plugins = ["altai_testlib", "kojitestlib", "unitlib"]
