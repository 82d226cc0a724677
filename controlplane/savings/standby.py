"""Warm standbys' cost, shared by the instances they protect.

Rule: a standby interval of a pool of (gpu type, region) is split evenly among the
instances of that gpu type and region that were hibernated at some moment of it (the ones
it stood ready to wake, whatever their team); each gets a `standby` row with the whole
machine's price and `share_of` = their number. With none to share it, one row with no
instance and no team records it as fleet overhead (operators see it with `all_teams`).

The warm pool reports each closed interval by calling `record_standby`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import InstanceRow, LedgerRow
from .appendix import append_if_absent
from .ledger import HIBERNATED, STANDBY
from .money import CURRENCY, from_cents


async def record_standby(
    session: AsyncSession,
    *,
    host_id: str,
    pool_id: str,
    gpu_type: str,
    region: str,
    price_per_hour_cents: int,
    started_at: datetime,
    ended_at: datetime,
) -> None:
    """Appends the interval's shares; recording the same interval again is a no-op."""
    protected = await _protected(session, gpu_type, region, started_at, ended_at)
    common: dict[str, Any] = {
        "kind": STANDBY,
        "seq": 0,
        "started_at": started_at,
        "ended_at": max(ended_at, started_at),
        "gpu_type": gpu_type,
        "region": region,
        "host_id": host_id,
        "price": from_cents(price_per_hour_cents),
        "currency": CURRENCY,
        "quantity": Decimal(1),
        "share_of": max(len(protected), 1),
        "source": f"standby:{pool_id}",
    }
    stem = f"standby:{host_id}:{started_at.isoformat()}"
    rows = [
        {**common, "key": f"{stem}:{ident}", "instance_id": ident, "team_id": team}
        for ident, team in protected
    ] or [{**common, "key": f"{stem}:-", "instance_id": None, "team_id": None}]
    await append_if_absent(session, rows)


async def _protected(
    session: AsyncSession, gpu_type: str, region: str, since: datetime, until: datetime
) -> list[tuple[str, str]]:
    """(instance id, team id) of every instance of that type and region hibernated at some
    moment of [since, until)."""
    query = (
        select(InstanceRow.id, InstanceRow.team_id)
        .join(LedgerRow, LedgerRow.instance_id == InstanceRow.id)
        .where(InstanceRow.gpu_type == gpu_type, InstanceRow.region == region)
        .where(LedgerRow.kind == HIBERNATED, LedgerRow.started_at < until)
        .where((LedgerRow.ended_at.is_(None)) | (LedgerRow.ended_at > since))
        .distinct()
        .order_by(InstanceRow.id)
    )
    return [(row.id, row.team_id) for row in await session.execute(query)]
