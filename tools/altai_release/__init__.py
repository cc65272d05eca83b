"""Altai release tooling: git repositories with a spec -> SRPMs -> signed RPMs -> a release tree."""
