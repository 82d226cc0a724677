"""The warm pools' plain data: what operators see and what the savings ledger reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

StandbyState = Literal["acquiring", "ready", "claimed", "releasing", "released"]
ACQUIRING: StandbyState = "acquiring"
READY: StandbyState = "ready"
CLAIMED: StandbyState = "claimed"
RELEASING: StandbyState = "releasing"
RELEASED: StandbyState = "released"
LIVE_STATES: tuple[StandbyState, ...] = (ACQUIRING, READY, RELEASING)
"""States in which the pool still holds (or is getting, or giving back) the host."""


@dataclass(frozen=True)
class PoolRequest:
    """`POST /warmpool/provision`: the pool for this key, created or updated."""

    gpu_type: str
    gpu_count: int
    region: str
    target: int
    max_idle_s: int
    team_id: str | None = None
    """The team whose instances the pool serves; None for a shared pool."""
    shared: bool = True
    """Every team's: prefetches only encrypted repositories, so its hosts cache ciphertext."""


@dataclass(frozen=True)
class PoolView:
    id: str
    provider: str
    gpu_type: str
    gpu_count: int
    region: str
    target: int
    enabled: bool
    max_idle_s: int
    created_at: datetime
    updated_at: datetime
    team_id: str | None = None
    """The team whose instances it serves; None when shared."""
    shared: bool = False


@dataclass(frozen=True)
class StandbyView:
    id: str
    pool_id: str
    state: StandbyState
    host_id: str | None
    lease_id: str | None
    gpu_type: str
    gpu_count: int
    region: str
    price_per_hour_cents: int
    prefetched: list[str]
    """Snapshot ids whose chunks the host's cache holds."""
    created_at: datetime
    acquired_at: datetime | None
    ended_at: datetime | None
    claimed_by_instance: str | None
    claimed_at: datetime | None
    error: str


@dataclass(frozen=True)
class PoolStatus:
    pool: PoolView
    ready: int
    acquiring: int
    releasing: int
    claimed: int
    """Standbys this pool handed to instances so far."""
    standby_seconds: float
    cost_cents: float
    """What its standby hosts cost so far (their standby intervals at their prices)."""


@dataclass(frozen=True)
class StandbyInterval:
    """A host kept as a standby from `started_at` to `ended_at` (clipped to the asked
    window) at `price_per_hour_cents`: what the savings ledger charges as standby cost."""

    pool_id: str
    gpu_type: str
    region: str
    host_id: str
    started_at: datetime
    ended_at: datetime
    price_per_hour_cents: int

    @property
    def cost_cents(self) -> float:
        return (self.ended_at - self.started_at).total_seconds() / 3600 * self.price_per_hour_cents
