"""instance-notifier: polls os-fping and notifies when an instance stops or starts answering again."""

__version__ = "0.1.0"
