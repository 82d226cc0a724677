"""An event as the domain sees it (the wire form lives in grpc/convert.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from torpor.common.timestamps import utc_now

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")


def severity_of(name: str) -> Severity:
    """The severity called `name`; anything unknown reads as info."""
    return next((s for s in SEVERITIES if s == name), "info")


@dataclass(frozen=True)
class Event:
    """Something that happened; `seq` is 0 until the bus stores it."""

    kind: str
    message: str
    host_id: str | None = None
    severity: Severity = "info"
    attributes: dict[str, str] = field(default_factory=dict)
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: datetime = field(default_factory=utc_now)
    seq: int = 0
    instance_id: str | None = None
    """Set for an instance's lifecycle events (listed and streamed per instance)."""

    def stored_as(self, seq: int) -> Event:
        return replace(self, seq=seq)
