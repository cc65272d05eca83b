"""Small JSON memos under OUT.store/cache/: answers to questions whose answer never changes for the same
question (what a commit holds, what a template renders to). Best effort both ways: a memo that cannot be
read or written only costs the next run the work it would have saved."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def recall(memo: Path, question: object) -> dict[str, Any] | None:
    """The answer kept in `memo` for exactly `question`, or None."""
    try:
        data = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("question") != question or not isinstance(data.get("answer"), dict):
        return None
    answer: dict[str, Any] = data["answer"]
    return answer


def remember(memo: Path, question: object, answer: dict[str, Any]) -> None:
    tmp = memo.with_suffix(f".{os.getpid()}.tmp")
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"question": question, "answer": answer}, sort_keys=True), encoding="utf-8")
        os.replace(tmp, memo)
    except OSError:
        with contextlib.suppress(OSError):  # its directory could not be made either
            tmp.unlink(missing_ok=True)
