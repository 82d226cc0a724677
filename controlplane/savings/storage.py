"""Snapshot storage, accrued per UTC day: the bytes an instance's snapshots hold at the
day's end (records not deleted by then), for the whole day, at the GB-month price
(`TORPOR_STORAGE_PRICE_PER_GB_MONTH`, default 0.023 USD: S3 Standard's first tier in
us-east-1). One row per instance and day (key `storage:<instance>:<day>`), so accruing a
day twice, or after a restart, changes nothing. Only whole days are accrued. Each accrued
day also gets a marker row (key `storage:-:<day>`, no instance or team, quantity 0, so it
costs nothing): the watermark moves past days without snapshots, which are then not
queried again on every reading."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import InstanceRow, LedgerRow, SnapshotRecordRow
from .appendix import append_if_absent
from .ledger import STORAGE
from .money import BYTES_PER_GB, CURRENCY, PRECISION

DEFAULT_PRICE_PER_GB_MONTH = Decimal("0.023")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


async def accrue_day(session: AsyncSession, day: date, price_per_gb_month: Decimal) -> int:
    """Appends the day's storage row of every instance holding snapshots; returns how many
    instances held some."""
    start, end = day_bounds(day)
    held = (
        select(
            SnapshotRecordRow.instance_id,
            func.sum(SnapshotRecordRow.bytes).label("bytes"),
        )
        .where(SnapshotRecordRow.created_at < end)
        .where(SnapshotRecordRow.deleted_at.is_(None) | (SnapshotRecordRow.deleted_at >= end))
        .group_by(SnapshotRecordRow.instance_id)
        .subquery()
    )
    query = select(InstanceRow, held.c.bytes).join(held, held.c.instance_id == InstanceRow.id)
    rows = []
    for instance, size in await session.execute(query):
        gigabytes = (Decimal(int(size or 0)) / BYTES_PER_GB).quantize(PRECISION)
        rows.append(
            {
                "key": f"storage:{instance.id}:{day.isoformat()}",
                "instance_id": instance.id,
                "team_id": instance.team_id,
                "kind": STORAGE,
                "seq": 0,
                "started_at": start,
                "ended_at": end,
                "gpu_type": instance.gpu_type,
                "gpu_count": instance.gpu_count,
                "region": instance.region,
                "provider": instance.provider,
                "host_id": None,
                "price": price_per_gb_month,
                "currency": CURRENCY,
                "quantity": gigabytes,
                "share_of": 1,
                "source": "daily",
            }
        )
    held_some = len(rows)
    rows.append(_marker(day, start, end, price_per_gb_month))
    await append_if_absent(session, rows)
    return held_some


def _marker(day: date, start: datetime, end: datetime, price: Decimal) -> dict[str, Any]:
    """The day is accrued (even with no snapshots held): a zero row, no instance, no team."""
    return {
        "key": f"storage:-:{day.isoformat()}",
        "instance_id": None,
        "team_id": None,
        "kind": STORAGE,
        "seq": 0,
        "started_at": start,
        "ended_at": end,
        "price": price,
        "currency": CURRENCY,
        "quantity": Decimal(0),
        "share_of": 1,
        "source": "daily",
    }


def not_marker() -> ColumnElement[bool]:
    """Ledger rows other than the days' accrual markers (for readings and reports)."""
    return (LedgerRow.kind != STORAGE) | LedgerRow.instance_id.is_not(None)


async def accrue_until(session: AsyncSession, now: datetime, price_per_gb_month: Decimal) -> None:
    """Accrues every whole day up to yesterday, from the day after the last one accrued: a
    day is accrued only once it is over, so it is complete."""
    first = await session.scalar(select(func.min(SnapshotRecordRow.created_at)))
    if first is None:
        return
    done = await session.scalar(
        select(func.max(LedgerRow.started_at)).where(LedgerRow.kind == STORAGE)
    )
    start = first if done is None else max(first, done + timedelta(days=1))
    day, today = start.astimezone(UTC).date(), now.astimezone(UTC).date()
    while day < today:
        await accrue_day(session, day, price_per_gb_month)
        day += timedelta(days=1)
