"""The savings a caller may see, read from the ledger: owners and billing admins of the
team; platform operators across teams with `all_teams`. Thin over `report` and `views`:
every amount is computed from ledger rows, never from a price table of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..accounts.caller import SEE_BILLING, Caller
from ..db.models import InstanceRow, LedgerRow
from ..errors import NotFound
from . import views
from .reference import current
from .report import total
from .schemas import (
    Breakdown,
    Comparison,
    HibernationDay,
    InstanceSavings,
    Month,
    Summary,
    amounts_of,
)
from .storage import DEFAULT_PRICE_PER_GB_MONTH, accrue_until, not_marker

PERIODS: dict[str, timedelta | None] = {
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "month": timedelta(days=30),
    "year": timedelta(days=365),
    "all": None,
}
MAX_MONTHS = 120
"""The longest monthly history a reading may ask for (HTTP and gRPC alike)."""


@dataclass(frozen=True)
class SavingsConfig:
    storage_price_per_gb_month: Decimal = DEFAULT_PRICE_PER_GB_MONTH


class SavingsService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], config: SavingsConfig | None = None
    ) -> None:
        self._sessions = sessions
        self._config = config or SavingsConfig()

    async def summary(self, caller: Caller, period: str, all_teams: bool = False) -> Summary:
        now = utc_now()
        since = _since(period, now)
        rows = await self._rows(caller, all_teams, since, now)
        return Summary(period, since, now, amounts_of(total(rows, since, now)))

    async def history(self, caller: Caller, months: int, all_teams: bool = False) -> list[Month]:
        now = utc_now()
        starts = views.month_starts(now, months)
        rows = await self._rows(caller, all_teams, starts[0], now)
        return views.by_month(rows, starts, now)

    async def breakdown(self, caller: Caller, period: str, all_teams: bool = False) -> Breakdown:
        now = utc_now()
        since = _since(period, now)
        rows = await self._rows(caller, all_teams, since, now)
        return Breakdown(
            period,
            by_gpu_type=views.grouped(rows, lambda row: row.gpu_type or "-", since, now),
            by_instance=views.grouped(rows, lambda row: row.instance_id or "-", since, now),
        )

    async def comparison(
        self, caller: Caller, gpu_type: str, all_teams: bool = False
    ) -> Comparison:
        prices = current()
        if gpu_type not in prices.prices:
            known = ", ".join(sorted(prices.prices))
            raise NotFound(
                f"no reference prices for GPU type {gpu_type!r}; known: {known}", field="gpu_type"
            )
        now = utc_now()
        rows = [r for r in await self._rows(caller, all_teams, None, now) if r.gpu_type == gpu_type]
        return views.comparison(gpu_type, total(rows, None, now), prices)

    async def hibernation_events(
        self, caller: Caller, days: int, all_teams: bool = False
    ) -> list[HibernationDay]:
        now = utc_now()
        since = now - timedelta(days=days)
        rows = await self._rows(caller, all_teams, since, now, compute_only=True)
        return views.hibernation_days(rows, since, now)

    async def instance(self, caller: Caller, instance_id: str) -> InstanceSavings:
        caller.require(SEE_BILLING, "seeing savings")
        now = utc_now()
        async with self._sessions.begin() as session:
            row = await session.get(InstanceRow, instance_id)
            if row is None:
                raise NotFound(f"no instance {instance_id}", field="instance_id")
            caller.owns(row.team_id, "instance", instance_id)
            await accrue_until(session, now, self._config.storage_price_per_gb_month)
            rows = list(
                await session.scalars(
                    select(LedgerRow)
                    .where(LedgerRow.instance_id == instance_id)
                    .order_by(LedgerRow.started_at, LedgerRow.id)
                )
            )
        return views.instance_savings(instance_id, rows, now)

    async def _rows(
        self,
        caller: Caller,
        all_teams: bool,
        since: datetime | None,
        until: datetime,
        compute_only: bool = False,
    ) -> Sequence[LedgerRow]:
        """The ledger rows the caller may see that touch [since, until]; storage accrued
        first, so the reading is up to date (idempotent)."""
        if all_teams:
            caller.require_operator()
        else:
            caller.require(SEE_BILLING, "seeing savings")
        query = select(LedgerRow).where(LedgerRow.started_at <= until, not_marker())
        if since is not None:
            query = query.where(or_(LedgerRow.ended_at.is_(None), LedgerRow.ended_at >= since))
        if not all_teams:
            query = query.where(LedgerRow.team_id == caller.team_id)
        if compute_only:
            query = query.where(LedgerRow.seq > 0)
        async with self._sessions.begin() as session:
            await accrue_until(session, until, self._config.storage_price_per_gb_month)
            return list(await session.scalars(query.order_by(LedgerRow.started_at, LedgerRow.id)))


def _since(period: str, now: datetime) -> datetime | None:
    span = PERIODS[period]
    return None if span is None else now - span
