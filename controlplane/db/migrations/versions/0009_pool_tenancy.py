"""Warm pools per team (issue 15: no team's data on another team's host).

`warm_pools.team_id` (the team whose instances the pool serves, "" for none) and
`warm_pools.shared` (an operator's pool for every team: it prefetches only encrypted
repositories). Existing pools become shared, which keeps what they did — serve every
team — while their standbys now prefetch only ciphertext. The pool key gains the team,
and a check keeps exactly one of the two. `standby_hosts.details` keeps the provider's
facts about a standby's host (workspace, config, log) for the placement of its claim.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OWNER_CHECK = "(shared AND team_id = '') OR (NOT shared AND team_id <> '')"


def upgrade() -> None:
    with op.batch_alter_table("warm_pools") as batch:
        batch.add_column(sa.Column("team_id", sa.String(32), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.drop_constraint("uq_warm_pools_key", type_="unique")
        batch.create_unique_constraint(
            "uq_warm_pools_key", ["provider", "gpu_type", "gpu_count", "region", "team_id"]
        )
        batch.create_check_constraint("ck_warm_pools_owner", sa.text(OWNER_CHECK))
    with op.batch_alter_table("standby_hosts") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("standby_hosts") as batch:
        batch.drop_column("details")
    with op.batch_alter_table("warm_pools") as batch:
        batch.drop_constraint("ck_warm_pools_owner", type_="check")
        batch.drop_constraint("uq_warm_pools_key", type_="unique")
        batch.create_unique_constraint(
            "uq_warm_pools_key", ["provider", "gpu_type", "gpu_count", "region"]
        )
        batch.drop_column("shared")
        batch.drop_column("team_id")
