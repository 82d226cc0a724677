"""What operator actions answer: plain data for HTTP and AdminService alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class DrainView:
    """A host's drain: `draining` false once undrained (or never drained)."""

    host_id: str
    draining: bool
    started_at: datetime | None = None
    started_by: str = ""
    drained_at: datetime | None = None
    """Set once no live instance was left on the host."""
    moving_instance_ids: list[str] = field(default_factory=list)
    """The instances this request is moving off (hibernates started or already running)."""
