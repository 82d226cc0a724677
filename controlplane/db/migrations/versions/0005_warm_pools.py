"""Warm pools and their standby hosts (issue 4: warm pools).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _spec() -> list[sa.Column[object]]:
    return [
        _text("provider", 64),
        _text("gpu_type", 64),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        _text("region", 64),
    ]


def upgrade() -> None:
    op.create_table(
        "warm_pools",
        sa.Column("id", sa.String(32), primary_key=True),
        *_spec(),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("max_idle_s", sa.Integer(), nullable=False),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        sa.UniqueConstraint(
            "provider", "gpu_type", "gpu_count", "region", name="uq_warm_pools_key"
        ),
    )
    op.create_table(
        "standby_hosts",
        sa.Column("id", sa.String(32), primary_key=True),
        _text("pool_id", 32),
        *_spec(),
        _text("state", 16),
        _text("host_id", 64, nullable=True),
        _text("lease_id", 255, nullable=True),
        sa.Column("price_per_hour_cents", sa.Integer(), nullable=False),
        sa.Column("prefetched", sa.JSON(), nullable=False),
        _when("created_at", nullable=False),
        _when("acquired_at"),
        _when("ended_at"),
        _text("claimed_by_instance", 32, nullable=True),
        sa.Column("claim_request_id", sa.String(64), nullable=True, unique=True),
        _when("claimed_at"),
        sa.Column("error", sa.Text(), nullable=False),
    )
    for column in ("pool_id", "state", "host_id"):
        op.create_index(f"ix_standby_hosts_{column}", "standby_hosts", [column])


def downgrade() -> None:
    op.drop_table("standby_hosts")
    op.drop_table("warm_pools")
