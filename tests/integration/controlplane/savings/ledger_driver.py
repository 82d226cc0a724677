"""Drives instance rows through state changes straight on the database, as the
operation runner does, at chosen times: the savings tests' way to write a ledger."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import LedgerRow, TeamRow
from torpor.controlplane.instances import store
from torpor.controlplane.instances.schemas import InstanceSpec
from torpor.controlplane.instances.states import Action, StateConflict
from torpor.controlplane.savings.ledger import CLOCK_KEY, reconcile, with_price

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Step:
    """Move the host (None: leave it; 0: release; else place at that price in cents),
    then try `action`, `dt_s` seconds after the previous step."""

    dt_s: float
    host_price_cents: int | None = None
    action: Action | None = None
    replay: bool = False
    """Afterwards, run the ledger again on the unchanged row (a restart, a duplicate)."""


async def new_team(sessions: async_sessionmaker[AsyncSession], team_id: str) -> None:
    async with sessions.begin() as session:
        if await session.get(TeamRow, team_id) is None:
            session.add(TeamRow(id=team_id, name=team_id, created_at=utc_now()))


async def create(
    sessions: async_sessionmaker[AsyncSession],
    team_id: str,
    at: datetime = T0,
    gpu_type: str = "H100",
    gpu_count: int = 1,
) -> str:
    spec = InstanceSpec(gpu_type=gpu_type, gpu_count=gpu_count, region="r-1")
    row = store.new_row(spec, "paper", team_id, "u-test")
    row.created_at = row.state_changed_at = row.updated_at = at
    async with sessions.begin() as session:
        session.add(row)
    return row.id


async def apply(
    sessions: async_sessionmaker[AsyncSession], instance_id: str, step: Step, at: datetime
) -> None:
    async with sessions.begin() as session:
        session.info[CLOCK_KEY] = lambda: at
        row = await store.load(session, instance_id, lock=True)
        if step.host_price_cents == 0:
            row.host_id, row.lease_id, row.placement = None, None, {}
        elif step.host_price_cents is not None:
            row.host_id = f"h-{at.timestamp()}"
            row.placement = with_price({"zone": "z"}, step.host_price_cents)
        if step.action is not None:
            # a duplicate or out-of-order event is refused and records nothing
            with contextlib.suppress(StateConflict):
                store.transition(row, step.action, "test", now=at)
    if step.replay:
        await replay(sessions, instance_id, at + timedelta(seconds=1))


async def replay(
    sessions: async_sessionmaker[AsyncSession], instance_id: str, at: datetime
) -> None:
    """What a restarted control plane re-running the ledger on the same row would do."""
    async with sessions.begin() as session:
        row = await store.load(session, instance_id)
        await session.run_sync(lambda sync: reconcile(sync, row, at))


async def run(
    sessions: async_sessionmaker[AsyncSession],
    instance_id: str,
    steps: list[Step],
    start: datetime = T0,
) -> datetime:
    """Applies the steps from `start` (the instance's creation); returns the last time."""
    at = start
    for step in steps:
        at += timedelta(seconds=step.dt_s)
        await apply(sessions, instance_id, step, at)
    return at


async def intervals(
    sessions: async_sessionmaker[AsyncSession], instance_id: str
) -> list[LedgerRow]:
    async with sessions() as session:
        rows = await session.scalars(
            select(LedgerRow).where(LedgerRow.instance_id == instance_id).order_by(LedgerRow.id)
        )
        return list(rows)
