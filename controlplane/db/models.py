"""The tables, as typed declarative models. Migrations in `migrations/versions` create them;
a change here needs a new migration (autogenerate compares against this metadata)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import ExactDecimal, UTCDateTime

HOST_CONNECTED = "connected"
HOST_DISCONNECTED = "disconnected"
HOST_RELEASED = "released"  # given back to its provider on purpose: never lost, not listed


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class HostRow(Base):
    """One machine that joined the fleet."""

    __tablename__ = "hosts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    agent_version: Mapped[str] = mapped_column(String(64), default="")
    os: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default=HOST_DISCONNECTED, index=True)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    gpus: Mapped[list[Any]] = mapped_column(default=list)
    telemetry: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    booted_at: Mapped[datetime | None] = mapped_column(default=None)
    joined_at: Mapped[datetime]
    connected_at: Mapped[datetime | None] = mapped_column(default=None)
    disconnected_at: Mapped[datetime | None] = mapped_column(default=None)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    credential_id: Mapped[str] = mapped_column(String(32))
    credential_hash: Mapped[str] = mapped_column(String(64))
    credential_issued_at: Mapped[datetime]


class JoinTokenRow(Base):
    """A one-time join token; only its hash is stored."""

    __tablename__ = "join_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    used_by_host_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("hosts.id", ondelete="SET NULL"), default=None
    )
    join_nonce_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class AdminTokenRow(Base):
    """An operator's bearer token; only its hash is stored."""

    __tablename__ = "admin_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class EventRow(Base):
    """A stored event; the autoincrement id is the event's `seq`, the order of the log."""

    __tablename__ = "events"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime]
    host_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    instance_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- accounts (design.md, "Accounts") -------------------------------------------------

ROLE_OWNER = "owner"
ROLE_MEMBER = "member"
ROLE_BILLING_ADMIN = "billing_admin"


class UserRow(Base):
    """A person who logs in; `is_operator` is granted only by `torpor-controlplane operators`."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    """Stored lower-cased, so lookups are exact."""
    display_name: Mapped[str] = mapped_column(String(255), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    """argon2id, in the PHC string format."""
    is_operator: Mapped[bool] = mapped_column(default=False)
    current_team_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("teams.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class TeamRow(Base):
    """Owns instances and snapshots; every user has at least their personal team."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)


class MembershipRow(Base):
    """A user's role in a team: owner, member or billing_admin."""

    __tablename__ = "memberships"

    team_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime]


class SessionRow(Base):
    """A login: access tokens name it (`sid`), so revoking it ends them at once."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    refresh_hash: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiKeyRow(Base):
    """A program's credential, acting as its user within one team; only the hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[str] = mapped_column(String(32), ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class InvitationRow(Base):
    """An invitation to a team, accepted with its one-time token (only the hash is kept)."""

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_by: Mapped[str | None] = mapped_column(String(32), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


# --- instances (design.md, "Instance state machine") ----------------------------------


class InstanceRow(Base):
    """A user's logical GPU machine: on one host while running, on none while hibernated."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    gpu_type: Mapped[str] = mapped_column(String(64))
    gpu_count: Mapped[int]
    region: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    state_reason: Mapped[str] = mapped_column(Text, default="")
    state_changed_at: Mapped[datetime]
    state_seconds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Seconds spent in each state before the current one (metrics, savings)."""
    host_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    lease_id: Mapped[str | None] = mapped_column(String(255), default=None)
    placement: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The provider's facts about the current host (a workspace path, a zone)."""
    auto_hibernate: Mapped[bool] = mapped_column(default=True)
    idle_policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    snapshot_schedule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latest_snapshot_id: Mapped[str | None] = mapped_column(String(128), default=None)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    epoch: Mapped[int] = mapped_column(default=0)
    """The current placement's epoch (design.md "Failover and fencing"); 0: never placed."""
    wrapped_repository_key: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    """The secret that opens the instance's encrypted snapshot repository, sealed by the
    control plane's master key (controlplane/repository_keys); None: made before repository
    keys existed, its repository is unencrypted."""


class SnapshotRecordRow(Base):
    """A snapshot the control plane knows of; `id` is the repository's snapshot id."""

    __tablename__ = "snapshot_records"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    instance_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """final (taken by hibernate), manual (a user asked) or scheduled."""
    bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    files: Mapped[int | None] = mapped_column(default=None)
    keep_forever: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class OperationRow(Base):
    """The journal of one multi-step operation (create, hibernate, wake, delete).

    Each step is written here before it acts, with deterministic ids (the command id is
    the operation id plus the step), so a restarted control plane can resume it safely."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(32))
    command_id: Mapped[str | None] = mapped_column(String(64), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    error: Mapped[str] = mapped_column(Text, default="")


class RetentionPolicyRow(Base):
    """How many snapshots a team keeps per instance; keep-forever ones are exempt."""

    __tablename__ = "retention_policies"

    team_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    keep_last: Mapped[int]
    keep_daily: Mapped[int]
    keep_weekly: Mapped[int]
    updated_at: Mapped[datetime]


# --- savings (design.md, "Savings accounting") ----------------------------------------


class LedgerRow(Base):
    """One interval of the append-only savings ledger.

    Never updated but once: `ended_at` is set when the interval closes (a guarded UPDATE
    ... WHERE ended_at IS NULL). `key` is unique, so a replayed event or a restarted
    control plane writing the same interval again is a no-op."""

    __tablename__ = "savings_ledger"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    key: Mapped[str] = mapped_column(String(255), unique=True)
    instance_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    team_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    kind: Mapped[str] = mapped_column(String(16))
    """running, hibernated, unplaced (compute: they tile the instance's life), standby,
    storage."""
    seq: Mapped[int] = mapped_column(default=0)
    """Order of an instance's compute intervals (1, 2, ...); 0 for standby and storage."""
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    gpu_type: Mapped[str] = mapped_column(String(64), default="")
    gpu_count: Mapped[int] = mapped_column(default=0)
    region: Mapped[str] = mapped_column(String(64), default="")
    provider: Mapped[str] = mapped_column(String(64), default="")
    host_id: Mapped[str | None] = mapped_column(String(64), default=None)
    price: Mapped[Decimal] = mapped_column(ExactDecimal())
    """Per hour of the whole machine (running, standby; hibernated: the price it saves),
    per GB-month for storage."""
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(1))
    """GB for storage; 1 otherwise."""
    share_of: Mapped[int] = mapped_column(default=1)
    """Standby: the cost is split evenly among this many protected instances."""
    source: Mapped[str] = mapped_column(String(64), default="")
    """What opened it: the instance state it mirrors, `placed`, `standby:<pool>`, `daily`."""


# --- operators (design.md, "Operators and torporctl") ---------------------------------


class HostDrainRow(Base):
    """A host being drained: no new placements on it; its instances are moved off.

    A row of its own (not columns of `hosts`) so undraining is a delete and placement
    code filters with one NOT IN (`fleet/draining.py`)."""

    __tablename__ = "host_drains"

    host_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    started_at: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(String(255))
    drained_at: Mapped[datetime | None] = mapped_column(default=None)
    """Set when no live instance was left on the host."""


# --- warm pools (design.md, "Warm pools") ------------------------------------------------


class WarmPoolRow(Base):
    """A target number of standby hosts for one (provider, GPU type, count, region) and one
    team, or shared by every team (design.md "Warm pools": tenant isolation)."""

    __tablename__ = "warm_pools"
    __table_args__ = (
        UniqueConstraint(
            "provider", "gpu_type", "gpu_count", "region", "team_id", name="uq_warm_pools_key"
        ),
        CheckConstraint(
            "(shared AND team_id = '') OR (NOT shared AND team_id <> '')",
            name="ck_warm_pools_owner",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    gpu_type: Mapped[str] = mapped_column(String(64))
    gpu_count: Mapped[int]
    region: Mapped[str] = mapped_column(String(64))
    target: Mapped[int]
    enabled: Mapped[bool] = mapped_column(default=True)
    max_idle_s: Mapped[int]
    """A standby unclaimed this long is released and replaced (0: never)."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    team_id: Mapped[str] = mapped_column(String(32), default="")
    """The team whose instances the pool serves; "" for a shared pool (never NULL, so the
    unique key holds for shared pools too)."""
    shared: Mapped[bool] = mapped_column(default=False)
    """Serves every team, and prefetches only encrypted repositories (ciphertext)."""


class StandbyHostRow(Base):
    """One standby host of a pool, from the acquire journalled for it to its release or
    claim. Kept afterwards (state `released` or `claimed`): its standby interval and price
    are what standby cost is computed from, even once the pool is gone."""

    __tablename__ = "standby_hosts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """Also the provider request id: a retried acquire gets the same host."""
    pool_id: Mapped[str] = mapped_column(String(32), index=True)
    provider: Mapped[str] = mapped_column(String(64))
    gpu_type: Mapped[str] = mapped_column(String(64))
    gpu_count: Mapped[int]
    region: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    """acquiring, ready, claimed, releasing, released."""
    host_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    lease_id: Mapped[str | None] = mapped_column(String(255), default=None)
    price_per_hour_cents: Mapped[int] = mapped_column(default=0)
    prefetched: Mapped[list[Any]] = mapped_column(default=list)
    """Snapshot ids whose chunks the host's cache holds."""
    created_at: Mapped[datetime]
    acquired_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    """When it stopped being a standby (claimed or released)."""
    claimed_by_instance: Mapped[str | None] = mapped_column(String(32), default=None)
    claim_request_id: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The provider's facts about the host (Lease.details: workspace, config, log), so
    a claimed standby's placement has the shape of an acquired host's."""


# --- failover (design.md, "Failover and fencing") -------------------------------------


class PlacementRow(Base):
    """One placement of an instance on a host. The epoch (1, 2, ...) is the fencing token:
    the primary key makes each one unique per instance, a replacement gets N+1. Open while
    `ended_at` is unset; the interval is what a host cost (savings)."""

    __tablename__ = "placements"

    instance_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[str] = mapped_column(String(64), index=True)
    lease_id: Mapped[str | None] = mapped_column(String(255), default=None)
    provider: Mapped[str] = mapped_column(String(64))
    chosen_by: Mapped[str] = mapped_column(String(32))
    """acquired, standby_same_region or standby_other_region."""
    operation_id: Mapped[str | None] = mapped_column(String(32), default=None)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str] = mapped_column(String(32), default="")
    """hibernated, deleted, failed_over, wake_failed, failover_failed."""


class FailoverSettingsRow(Base):
    """Failover settings: scope `global`, or an instance id whose unset fields inherit."""

    __tablename__ = "failover_settings"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool | None] = mapped_column(default=None)
    allow_other_region: Mapped[bool | None] = mapped_column(default=None)
    snapshot_every_s: Mapped[int | None] = mapped_column(default=None)
    max_snapshot_age_s: Mapped[int | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]
