"""Checking a release: its files against the pinned keys, its SRPMs rebuilt (--verify), dnf installing it (--accept)."""
