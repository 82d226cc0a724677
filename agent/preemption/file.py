"""`file`: the notice is a file appearing (the local provider, or any script, writes it).

Its content, when there is some, says when: an ISO 8601 time, or the seconds left.
Empty: `notice_s` from when the agent first saw it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from .base import Notice


class FileSource:
    name = "file"

    def __init__(self, path: Path, notice_s: float) -> None:
        self._path = path
        self._notice_s = notice_s

    def poll(self) -> Notice | None:
        try:
            text = self._path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        now = datetime.now(UTC)
        return Notice(self._deadline(text, now), self.name, f"{self._path} appeared")

    def _deadline(self, text: str, now: datetime) -> datetime:
        if not text:
            return now + timedelta(seconds=self._notice_s)
        try:
            return now + timedelta(seconds=float(text))
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as error:
            raise OSError(
                f"{self._path}: expected an ISO 8601 time or seconds, got {text[:40]!r}"
            ) from error
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
