"""A preemption notice and the interface every source implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Notice:
    """The host goes away at `deadline` (UTC)."""

    deadline: datetime
    source: str
    detail: str = ""


class PreemptionSource(Protocol):
    """Asked every `poll_s`; a notice, once given, is final (the watcher stops asking)."""

    name: str

    def poll(self) -> Notice | None:
        """The notice, or None while there is none. May block (run in a thread).

        Raises:
            OSError: the source could not be read this time (retried at the next poll).
        """
        ...
