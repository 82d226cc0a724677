"""Repository keys (issue 14: encryption at rest): `instances.wrapped_repository_key`.

The secret of each new instance's snapshot repository, sealed by the control plane's
master key (AES-256-GCM, 61 bytes). Nullable: instances made before this keep NULL, and
their repositories stay unencrypted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("wrapped_repository_key", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("wrapped_repository_key")
