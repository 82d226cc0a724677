"""A team with live instances cannot be deleted: its hosts and snapshots would be orphaned."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import InstanceRow


async def live_instances(session: AsyncSession, team_id: str) -> str | None:
    """The reason to refuse (for TeamService.add_deletion_check), or None."""
    count = await session.scalar(
        select(func.count()).where(InstanceRow.team_id == team_id, InstanceRow.deleted_at.is_(None))
    )
    if not count:
        return None
    return f"it has {count} live instance{'s' if count != 1 else ''}: delete them first"
