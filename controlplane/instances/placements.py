"""Placements: every time an instance is put on a host it gets the next epoch.

The epoch is the fencing token (design.md "Failover and fencing"): commands carry it, the
agent refuses older ones, and a host whose placement ended is fenced when it comes back.
The rows are also the record of which host served an instance when (savings read the
intervals). Both functions work inside the caller's transaction, with the instance row
locked, so an epoch is handed out once: (instance, epoch) is the primary key.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from torpor.common.timestamps import utc_now

from ..db.models import InstanceRow, PlacementRow
from ..providers.base import Lease
from ..savings.ledger import with_price
from .standbys import placement_details

ACQUIRED = "acquired"
"""Chosen by: a new host from the provider."""
STANDBY_SAME_REGION = "standby_same_region"
"""Chosen by: a warm standby in the instance's region (wake, failover)."""
STANDBY_OTHER_REGION = "standby_other_region"
"""Chosen by: a warm standby in another region (failover, where settings allow)."""


def chosen_by(lease: Lease, region: str) -> str:
    """How a placement's host was chosen: a warm standby (in which region) or acquired."""
    if not lease.details.get("standby"):
        return ACQUIRED
    same = lease.offer.region == region
    return STANDBY_SAME_REGION if same else STANDBY_OTHER_REGION


async def begin(
    session: AsyncSession,
    row: InstanceRow,
    lease: Lease,
    chosen_by: str = ACQUIRED,
    operation_id: str | None = None,
) -> int:
    """Puts `row` on the placement's host at epoch N+1 (ending an open one); the epoch."""
    await end(session, row, "replaced")
    epoch = row.epoch + 1
    session.add(
        PlacementRow(
            instance_id=row.id,
            epoch=epoch,
            host_id=lease.host_id,
            lease_id=lease.lease_id,
            provider=lease.provider,
            chosen_by=chosen_by,
            operation_id=operation_id,
            started_at=utc_now(),
            end_reason="",
        )
    )
    row.epoch = epoch
    row.host_id, row.lease_id = lease.host_id, lease.lease_id
    row.placement = with_price(
        placement_details(lease), lease.offer.price_per_hour_cents
    )  # one shape: acquired or claimed from a warm pool
    row.provider = lease.provider  # a standby's pool may be another provider's
    return epoch


async def end(session: AsyncSession, row: InstanceRow, reason: str) -> None:
    """Ends the instance's current placement, if one is open (the host stays recorded)."""
    if not row.epoch:
        return
    current = await session.get(PlacementRow, (row.id, row.epoch))
    if current is not None and current.ended_at is None:
        current.ended_at, current.end_reason = utc_now(), reason


async def history(session: AsyncSession, instance_id: str) -> list[PlacementRow]:
    """The instance's placements, newest first."""
    rows = await session.scalars(
        select(PlacementRow)
        .where(PlacementRow.instance_id == instance_id)
        .order_by(PlacementRow.epoch.desc())
    )
    return list(rows)


async def ended_on(session: AsyncSession, host_id: str, instance_id: str) -> PlacementRow | None:
    """The newest placement of `instance_id` on `host_id` (open or ended), if any."""
    return await session.scalar(
        select(PlacementRow)
        .where(PlacementRow.host_id == host_id, PlacementRow.instance_id == instance_id)
        .order_by(PlacementRow.epoch.desc())
        .limit(1)
    )
