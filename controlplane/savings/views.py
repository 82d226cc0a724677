"""Ledger rows turned into the answers of the savings routes (pure functions)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from ..db.models import LedgerRow
from .ledger import HIBERNATED, RUNNING
from .money import micros, present
from .reference import ReferencePrices
from .report import Totals, amounts, total
from .schemas import (
    CloudReference,
    Comparison,
    GroupAmounts,
    HibernationDay,
    InstanceSavings,
    IntervalView,
    Month,
    amounts_of,
)


def month_starts(now: datetime, months: int) -> list[datetime]:
    """The first instants of the last `months` calendar months (UTC), oldest first."""
    year, month = now.year, now.month
    starts = []
    for _ in range(months):
        starts.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def by_month(rows: Sequence[LedgerRow], starts: list[datetime], now: datetime) -> list[Month]:
    ends = [*starts[1:], now]
    return [
        Month(start.strftime("%Y-%m"), amounts_of(total(rows, start, end)))
        for start, end in zip(starts, ends, strict=True)
    ]


def grouped(
    rows: Sequence[LedgerRow],
    key: Callable[[LedgerRow], str],
    since: datetime | None,
    until: datetime,
) -> list[GroupAmounts]:
    groups: dict[str, list[LedgerRow]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return [
        GroupAmounts(name, amounts_of(total(members, since, until)))
        for name, members in sorted(groups.items())
    ]


def comparison(gpu_type: str, totals: Totals, prices: ReferencePrices) -> Comparison:
    all_hours = totals.running_gpu_hours + totals.hibernated_gpu_hours
    references = [
        CloudReference(
            cloud=cloud,
            region=prices.regions[cloud],
            instance_type=price.instance_type,
            per_gpu_hour=str(price.per_gpu_hour),
            same_running_hours=present(price.per_gpu_hour * totals.running_gpu_hours),
            always_on=present(price.per_gpu_hour * all_hours),
            source=price.source or prices.source[cloud],
            as_of=price.as_of or prices.retrieved,
        )
        for cloud, price in sorted(prices.prices[gpu_type].items())
    ]
    return Comparison(
        gpu_type=gpu_type,
        running_gpu_hours=str(totals.running_gpu_hours.normalize()),
        hibernated_gpu_hours=str(totals.hibernated_gpu_hours.normalize()),
        ours=present(totals.cost),
        references=references,
        reference_version=prices.version,
        reference_retrieved=prices.retrieved,
    )


def hibernation_days(
    rows: Sequence[LedgerRow], since: datetime, now: datetime
) -> list[HibernationDay]:
    """Per UTC day of [since, now]: hibernations begun, wakes (a hibernated interval
    followed by a running one) and the length of the hibernations that ended."""
    days: dict[str, list[float]] = {}  # day -> [hibernations, wakes, seconds]
    day = since.date()
    while day <= now.date():
        days[day.isoformat()] = [0, 0, 0.0]
        day = day.fromordinal(day.toordinal() + 1)
    ordered = sorted(rows, key=lambda r: (r.instance_id or "", r.seq))
    for _, history in itertools.groupby(ordered, key=lambda r: r.instance_id):
        chain = list(history)
        for row, following in itertools.zip_longest(chain, chain[1:]):
            if row.kind != HIBERNATED:
                continue
            began = days.get(row.started_at.date().isoformat())
            if began is not None and row.started_at >= since:
                began[0] += 1
            if following is not None and following.kind == RUNNING and row.ended_at:
                ended = days.get(row.ended_at.date().isoformat())
                if ended is not None and row.ended_at >= since:
                    ended[1] += 1
                    ended[2] += micros(row.started_at, row.ended_at) / 1e6
    return [HibernationDay(name, int(h), int(w), s) for name, (h, w, s) in days.items()]


def instance_savings(instance_id: str, rows: Sequence[LedgerRow], now: datetime) -> InstanceSavings:
    intervals = [
        IntervalView(
            kind=row.kind,
            started_at=row.started_at,
            ended_at=row.ended_at,
            host_id=row.host_id,
            price=str(row.price),
            amount=present(_amount(row, now)),
        )
        for row in rows
    ]
    return InstanceSavings(instance_id, amounts_of(total(rows, None, now)), intervals)


def _amount(row: LedgerRow, now: datetime) -> Decimal:
    part = amounts(row, None, now)
    return part.saved_gross if row.kind == HIBERNATED else part.cost
