"""The tables, as typed declarative models. Migrations in `migrations/versions` create them;
a change here needs a new migration (autogenerate compares against this metadata)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import UTCDateTime

HOST_CONNECTED = "connected"
HOST_DISCONNECTED = "disconnected"


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
