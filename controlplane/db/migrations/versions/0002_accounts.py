"""Accounts: users, teams, memberships, sessions, API keys, invitations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str = "id", *args: Any, **kwargs: Any) -> sa.Column[object]:
    return sa.Column(name, sa.String(32), *args, **kwargs)


def upgrade() -> None:
    op.create_table(
        "teams",
        _id(primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        _when("created_at", nullable=False),
        _id("created_by", nullable=True),
    )
    op.create_table(
        "users",
        _id(primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_operator", sa.Boolean(), nullable=False),
        _id("current_team_id", sa.ForeignKey("teams.id", ondelete="SET NULL"), nullable=True),
        _when("created_at", nullable=False),
        _when("disabled_at"),
    )
    op.create_table(
        "memberships",
        _id("team_id", sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
        _id("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        _when("joined_at", nullable=False),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_table(
        "sessions",
        _id(primary_key=True),
        _id("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("refresh_hash", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(255), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        _when("last_used_at"),
        _when("revoked_at"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "api_keys",
        _id(primary_key=True),
        _id("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        _id("team_id", sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at"),
        _when("last_used_at"),
        _when("revoked_at"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "invitations",
        _id(primary_key=True),
        _id("team_id", sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _id("invited_by", nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        _when("accepted_at"),
        _id("accepted_by", nullable=True),
        _when("revoked_at"),
    )
    op.create_index("ix_invitations_team_id", "invitations", ["team_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_invitations_team_id", "invitations"),
        ("ix_api_keys_user_id", "api_keys"),
        ("ix_sessions_user_id", "sessions"),
        ("ix_memberships_user_id", "memberships"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("invitations", "api_keys", "sessions", "memberships", "users", "teams"):
        op.drop_table(table)
