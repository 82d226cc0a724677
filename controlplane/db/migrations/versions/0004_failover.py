"""Placement epochs and failover settings (issue 4: failover and fencing).

`placements`: one row per placement of an instance on a host, keyed by (instance, epoch),
so an epoch can never be handed out twice; `instances.epoch` is the current one.
`failover_settings`: the global row (scope `global`) and per-instance overrides.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "placements",
        sa.Column(
            "instance_id",
            sa.String(32),
            sa.ForeignKey("instances.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.String(64), nullable=False),
        sa.Column("lease_id", sa.String(255), nullable=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("chosen_by", sa.String(32), nullable=False),
        sa.Column("operation_id", sa.String(32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "epoch"),
    )
    op.create_index("ix_placements_host_id", "placements", ["host_id"])
    op.create_table(
        "failover_settings",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("allow_other_region", sa.Boolean(), nullable=True),
        sa.Column("snapshot_every_s", sa.Integer(), nullable=True),
        sa.Column("max_snapshot_age_s", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("failover_settings")
    op.drop_index("ix_placements_host_id", table_name="placements")
    op.drop_table("placements")
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("epoch")
