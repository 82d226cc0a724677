"""What the failover routes show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..instances.schemas import OperationView


@dataclass(frozen=True)
class PlacementView:
    epoch: int
    host_id: str
    lease_id: str | None
    chosen_by: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str


@dataclass(frozen=True)
class FailoverStatus:
    instance_id: str
    state: str
    epoch: int
    host_id: str | None
    placements: list[PlacementView]
    """Newest first: which host served the instance at which epoch, and why it ended."""
    last_failover: OperationView | None
    last_failover_details: dict[str, Any] = field(default_factory=dict)
    """Trigger, reason, old and new host, the rule that chose the target."""


@dataclass(frozen=True)
class FailoverReadiness:
    instance_id: str
    ready: bool
    reasons: list[str]
    """Why not ready (empty when ready)."""
    enabled: bool
    warm_target: bool
    """A ready warm standby could take it now (same region, or another where its
    settings allow)."""
    latest_snapshot_id: str | None
    latest_snapshot_at: datetime | None
    snapshot_age_s: float | None
    would_lose_up_to_s: float | None
    """Work since the latest snapshot: what a failover now would lose at most."""
    warm_target_host_id: str | None = None
    """The standby host a failover would take now (null: none)."""
    warm_target_holds_latest: bool | None = None
    """That standby prefetched the latest snapshot (a restore reads only what changed)."""
