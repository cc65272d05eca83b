"""Shared basics of every step: typed errors, the one runner of external tools, limits, user paths and
files, digests, downloads, locks, memos, timings, templates and TOML reading."""
