"""The initial schema: hosts, join_tokens, admin_tokens, events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    _create_hosts()
    _create_join_tokens()
    _create_admin_tokens()
    _create_events()


def _create_hosts() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("agent_version", sa.String(64), nullable=False),
        sa.Column("os", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("gpus", sa.JSON(), nullable=False),
        sa.Column("telemetry", sa.JSON(), nullable=True),
        _when("booted_at"),
        _when("joined_at", nullable=False),
        _when("connected_at"),
        _when("disconnected_at"),
        _when("last_heartbeat_at"),
        sa.Column("credential_id", sa.String(32), nullable=False),
        sa.Column("credential_hash", sa.String(64), nullable=False),
        _when("credential_issued_at", nullable=False),
    )
    op.create_index("ix_hosts_state", "hosts", ["state"])


def _create_join_tokens() -> None:
    op.create_table(
        "join_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("note", sa.String(255), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        _when("used_at"),
        sa.Column(
            "used_by_host_id",
            sa.String(64),
            sa.ForeignKey("hosts.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("join_nonce_hash", sa.String(64), nullable=True),
        _when("revoked_at"),
    )


def _create_admin_tokens() -> None:
    op.create_table(
        "admin_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _when("created_at", nullable=False),
        _when("revoked_at"),
        _when("last_used_at"),
    )


def _create_events() -> None:
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        _when("at", nullable=False),
        sa.Column("host_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        # AUTOINCREMENT: SQLite must never reuse a seq, or a watcher would skip events.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_host_id", "events", ["host_id"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("admin_tokens")
    op.drop_table("join_tokens")
    op.drop_index("ix_hosts_state", "hosts")
    op.drop_table("hosts")
