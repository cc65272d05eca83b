"""nova-fping: Nova's historical os-fping API, runnable without an in-process Nova."""

__version__ = "0.2.0"
