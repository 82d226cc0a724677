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
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
