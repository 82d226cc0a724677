"""Instances, snapshot records, the operations journal, retention policies; events get an
instance id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int, *args: Any, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length), *args, nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=False)


def _instance_fk(name: str = "instance_id") -> sa.Column[object]:
    return _text(name, 32, sa.ForeignKey("instances.id", ondelete="CASCADE"))


def upgrade() -> None:
    _create_instances()
    _create_snapshot_records()
    _create_operations()
    op.create_table(
        "retention_policies",
        _text("team_id", 32, sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("keep_last", sa.Integer(), nullable=False),
        sa.Column("keep_daily", sa.Integer(), nullable=False),
        sa.Column("keep_weekly", sa.Integer(), nullable=False),
        _when("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
    )
    with op.batch_alter_table("events") as batch:
        batch.add_column(_text("instance_id", 32, nullable=True))
        batch.create_index("ix_events_instance_id", ["instance_id"])


def _create_instances() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.String(32), primary_key=True),
        _text("team_id", 32, sa.ForeignKey("teams.id", ondelete="CASCADE")),
        _text("name", 255),
        _text("gpu_type", 64),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        _text("region", 64),
        _text("provider", 64),
        _text("state", 16),
        sa.Column("state_reason", sa.Text(), nullable=False),
        _when("state_changed_at", nullable=False),
        _json("state_seconds"),
        _text("host_id", 64, nullable=True),
        _text("lease_id", 255, nullable=True),
        _json("placement"),
        sa.Column("auto_hibernate", sa.Boolean(), nullable=False),
        _json("idle_policy"),
        _json("snapshot_schedule"),
        _text("latest_snapshot_id", 128, nullable=True),
        _text("created_by", 32),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        _when("deleted_at"),
    )
    for column in ("team_id", "state", "host_id"):
        op.create_index(f"ix_instances_{column}", "instances", [column])


def _create_snapshot_records() -> None:
    op.create_table(
        "snapshot_records",
        sa.Column("id", sa.String(128), primary_key=True),
        _instance_fk(),
        _text("team_id", 32),
        _text("kind", 16),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("files", sa.Integer(), nullable=True),
        sa.Column("keep_forever", sa.Boolean(), nullable=False),
        _when("created_at", nullable=False),
        _when("deleted_at"),
    )
    for column in ("instance_id", "team_id"):
        op.create_index(f"ix_snapshot_records_{column}", "snapshot_records", [column])


def _create_operations() -> None:
    op.create_table(
        "operations",
        sa.Column("id", sa.String(32), primary_key=True),
        _instance_fk(),
        _text("kind", 16),
        _text("step", 32),
        _text("command_id", 64, nullable=True),
        _text("request_id", 64, nullable=True),
        _json("details"),
        _when("started_at", nullable=False),
        _when("finished_at"),
        _text("outcome", 16, nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
    )
    op.create_index("ix_operations_instance_id", "operations", ["instance_id"])
    op.create_index("ix_operations_finished_at", "operations", ["finished_at"])


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_instance_id")
        batch.drop_column("instance_id")
    for table in ("retention_policies", "operations", "snapshot_records", "instances"):
        op.drop_table(table)
