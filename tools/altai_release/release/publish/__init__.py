"""Publishing the next release: what it holds and the rules it keeps, its files written, sealed and switched in."""
