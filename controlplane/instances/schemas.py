"""An instance's plain data: what a user asks for, and what they are shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")

SnapshotKind = Literal["final", "manual", "scheduled", "failover"]


@dataclass(frozen=True)
class IdlePolicy:
    """Overrides of the agent's `[idle]` settings for one instance (unset: the agent's)."""

    window_s: int | None = None
    gpu_util_threshold_percent: float | None = None
    cpu_threshold_percent: float | None = None
    network_threshold_bytes_per_s: float | None = None
    resident_inactive_is_idle: bool | None = None
    process_allow_list: list[str] | None = None
    grace_s: int | None = None


@dataclass(frozen=True)
class SnapshotSchedule:
    """Take a snapshot every `every_s` seconds while running (None: never)."""

    every_s: int | None = None


@dataclass(frozen=True)
class InstanceSpec:
    """What `POST /instances` takes."""

    gpu_type: str
    gpu_count: int
    region: str
    name: str = ""
    provider: str | None = None
    """Which provider places it; None: the first whose offers match."""
    auto_hibernate: bool = True
    idle_policy: IdlePolicy = field(default_factory=IdlePolicy)
    snapshot_schedule: SnapshotSchedule = field(default_factory=SnapshotSchedule)


@dataclass(frozen=True)
class InstanceView:
    id: str
    team_id: str
    name: str
    state: str
    state_reason: str
    state_changed_at: datetime
    gpu_type: str
    gpu_count: int
    region: str
    provider: str
    host_id: str | None
    placement: dict[str, str]
    auto_hibernate: bool
    idle_policy: dict[str, Any]
    snapshot_schedule: dict[str, Any]
    latest_snapshot_id: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    operation: OperationView | None = None
    """The operation in progress (hibernating, waking, provisioning), if any."""


@dataclass(frozen=True)
class OperationView:
    id: str
    kind: str
    step: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error: str


@dataclass(frozen=True)
class SnapshotView:
    id: str
    instance_id: str
    team_id: str
    kind: str
    bytes: int | None
    files: int | None
    keep_forever: bool
    created_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class RetentionPolicy:
    """Per instance: the last N snapshots, plus the newest of each of the last N days and
    weeks. Keep-forever snapshots and a hibernated instance's latest are always kept."""

    keep_last: int = 10
    keep_daily: int = 7
    keep_weekly: int = 4


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class InstanceMetrics:
    instance_id: str
    state: str
    seconds_in_state: dict[str, float]
    """Total seconds spent in each state, the current one included up to now."""
    hibernated_seconds: float
    host_id: str | None
    telemetry: dict[str, Any] | None
    """The latest telemetry of its host (GPU utilisation, memory…); None while hibernated."""
