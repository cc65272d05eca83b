"""Building a run: its packages from their sources to signed files, in order, with the cache."""
