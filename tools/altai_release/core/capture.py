"""What the host keeps of a sandboxed process's output: its head and its tail, never more than a bound,
however much the process writes. A spec that prints a gigabyte costs the host a pipe's worth of reading, not
a gigabyte of memory or of temporary file."""

from __future__ import annotations

import threading
from collections import deque
from typing import IO


class KeptOutput:
    """The first and the last `limit // 2` bytes of a stream, and how many were cut between them."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self._tail.append(data)
        self._tail_size += len(data)
        while self._tail_size - len(self._tail[0]) >= self.half:
            self._tail_size -= len(self._tail.popleft())

    @property
    def cut(self) -> int:
        return max(self.total - len(self.head) - min(self._tail_size, self.half), 0)

    def data(self) -> bytes:
        tail = b"".join(self._tail)[-self.half :] if self._tail else b""
        if not self.cut:
            return bytes(self.head) + tail
        note = f"\n[... {self.cut} bytes of output cut here: the host keeps {2 * self.half} bytes ...]\n"
        return bytes(self.head) + note.encode() + tail

    def text(self) -> str:
        return self.data().decode("utf-8", "replace")


def drain(stream: IO[bytes], kept: KeptOutput) -> threading.Thread:
    """A thread that reads `stream` to its end into `kept` (and closes it)."""

    def read() -> None:
        with stream:
            while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
                kept.feed(chunk)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread
