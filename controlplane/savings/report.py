"""What ledger intervals add up to over a window: hours, costs and what was saved.

Pure functions over ledger rows, so a total is by construction the exact sum of its parts:
every interval's amounts are computed once (money.py: exact to 1e-10) and added.

saved = hibernated hours x the price of the host the instance left
        - its share of warm standbys - its snapshot storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal

from ..db.models import LedgerRow
from .ledger import HIBERNATED, RUNNING, STANDBY, STORAGE
from .money import hours, micros, per_gb_month, per_hour

ZERO = Decimal(0)


@dataclass(frozen=True)
class Totals:
    """Exact amounts (Decimal, to 1e-10); round only to show them (money.present)."""

    running_hours: Decimal = ZERO
    running_gpu_hours: Decimal = ZERO
    hibernated_hours: Decimal = ZERO
    hibernated_gpu_hours: Decimal = ZERO
    compute_cost: Decimal = ZERO
    standby_cost: Decimal = ZERO
    storage_cost: Decimal = ZERO
    saved_gross: Decimal = ZERO
    """What the hibernated hours would have cost on the hosts left."""

    @property
    def saved(self) -> Decimal:
        return self.saved_gross - self.standby_cost - self.storage_cost

    @property
    def cost(self) -> Decimal:
        return self.compute_cost + self.standby_cost + self.storage_cost

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def overlap(row: LedgerRow, since: datetime | None, until: datetime) -> int:
    """Microseconds of the interval inside [since, until] (an open one runs to `until`)."""
    start = row.started_at if since is None else max(row.started_at, since)
    end = min(row.ended_at or until, until)
    return micros(start, end)


def amounts(row: LedgerRow, since: datetime | None, until: datetime) -> Totals:
    """One interval's part of the window."""
    span = overlap(row, since, until)
    if row.kind == RUNNING:
        return Totals(
            running_hours=hours(span),
            running_gpu_hours=hours(span * row.gpu_count),
            compute_cost=per_hour(row.price, span),
        )
    if row.kind == HIBERNATED:
        return Totals(
            hibernated_hours=hours(span),
            hibernated_gpu_hours=hours(span * row.gpu_count),
            saved_gross=per_hour(row.price, span),
        )
    if row.kind == STANDBY:
        return Totals(standby_cost=per_hour(row.price, span, row.share_of))
    if row.kind == STORAGE:
        return Totals(storage_cost=per_gb_month(row.price, row.quantity, span))
    return Totals()  # unplaced: nothing billed, nothing saved


def total(rows: Iterable[LedgerRow], since: datetime | None, until: datetime) -> Totals:
    return sum((amounts(row, since, until) for row in rows), Totals())
