"""Standby shares and daily snapshot storage: split by the documented rule, cent-exact,
and recorded once however often they are reported (a replay, a restart)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.integration.controlplane.savings.ledger_driver import (
    T0,
    Step,
    create,
    intervals,
    new_team,
    run,
)
from torpor.controlplane.db.models import InstanceRow, LedgerRow, SnapshotRecordRow
from torpor.controlplane.instances.states import Action
from torpor.controlplane.savings import storage
from torpor.controlplane.savings.money import BYTES_PER_GB, present
from torpor.controlplane.savings.report import total
from torpor.controlplane.savings.standby import record_standby
from torpor.controlplane.savings.storage import accrue_day, accrue_until
from torpor.controlplane.services import Services

pytestmark = pytest.mark.integration
TO_HIBERNATED = [
    Step(0, host_price_cents=249, action=Action.PROVISIONED),
    Step(3600, action=Action.HIBERNATE),
    Step(0, host_price_cents=0, action=Action.HIBERNATED),
]


async def test_a_standby_is_shared_by_the_hibernated_instances_it_protects(
    services: Services,
) -> None:
    await new_team(services.sessions, "t-a")
    await new_team(services.sessions, "t-b")
    first = await create(services.sessions, "t-a")
    second = await create(services.sessions, "t-b")
    running = await create(services.sessions, "t-b")
    for ident in (first, second):
        await run(services.sessions, ident, TO_HIBERNATED)
    await run(services.sessions, running, TO_HIBERNATED[:1])
    start, end = T0 + timedelta(hours=2), T0 + timedelta(hours=5)
    for _ in range(2):  # reported twice: recorded once
        async with services.sessions.begin() as session:
            await record_standby(
                session,
                host_id="h-warm",
                pool_id="p-1",
                gpu_type="H100",
                region="r-1",
                price_per_hour_cents=249,
                started_at=start,
                ended_at=end,
            )
    shares = [r for r in await intervals(services.sessions, first) if r.kind == "standby"]
    shares += [r for r in await intervals(services.sessions, second) if r.kind == "standby"]
    assert [r.share_of for r in shares] == [2, 2]
    assert {r.team_id for r in shares} == {"t-a", "t-b"}
    assert [present(total([r], None, end).standby_cost) for r in shares] == ["3.74", "3.74"]
    assert sum((total([r], None, end).standby_cost for r in shares), Decimal(0)) == Decimal(
        "7.47"
    )  # 3 h x 2.49, exactly: 3.735 each before rounding
    assert [r.kind for r in await intervals(services.sessions, running)] == [
        "unplaced",
        "running",
    ]


async def test_storage_accrues_per_day_once(services: Services) -> None:
    await new_team(services.sessions, "t-s")
    ident = await create(services.sessions, "t-s")
    async with services.sessions.begin() as session:
        instance = await session.get(InstanceRow, ident)
        assert instance is not None
        session.add(
            SnapshotRecordRow(
                id="snap-1",
                instance_id=ident,
                team_id="t-s",
                kind="final",
                bytes=10 * BYTES_PER_GB,
                created_at=T0,
            )
        )
    for _ in range(2):
        async with services.sessions.begin() as session:
            assert await accrue_day(session, date(2026, 3, 1), Decimal("0.023")) == 1
            await accrue_until(session, T0 + timedelta(days=3, hours=1), Decimal("0.023"))
    async with services.sessions() as session:
        rows = list(
            await session.scalars(
                select(LedgerRow)
                .where(LedgerRow.kind == "storage", LedgerRow.instance_id == ident)
                .order_by(LedgerRow.started_at)
            )
        )
    assert [r.started_at.day for r in rows] == [1, 2, 3]
    assert rows[0].quantity == 10
    # 10 GB x $0.023 per GB-month x 24/730 of a month, per day
    per_day = total(rows[:1], None, T0 + timedelta(days=9)).storage_cost
    assert per_day == Decimal("0.0075616438")
    assert present(total(rows, None, T0 + timedelta(days=9)).storage_cost) == "0.02"


async def test_a_day_without_snapshots_is_accrued_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held nothing on days 2..4: each is accrued once (a zero marker row), not queried again
    on every reading; the marker costs nothing and shows in no report."""
    await new_team(services.sessions, "t-e")
    ident = await create(services.sessions, "t-e")
    async with services.sessions.begin() as session:
        session.add(
            SnapshotRecordRow(
                id="snap-e",
                instance_id=ident,
                team_id="t-e",
                kind="final",
                bytes=BYTES_PER_GB,
                created_at=T0,
                deleted_at=T0 + timedelta(hours=12),
            )
        )
    accrued: list[date] = []
    real = storage.accrue_day

    async def counting(session: AsyncSession, day: date, price: Decimal) -> int:
        accrued.append(day)
        return await real(session, day, price)

    monkeypatch.setattr(storage, "accrue_day", counting)
    now = T0 + timedelta(days=4, hours=1)
    for _ in range(3):
        async with services.sessions.begin() as session:
            await accrue_until(session, now, Decimal("0.023"))
    assert [d.day for d in accrued] == [1, 2, 3, 4]
    async with services.sessions() as session:
        rows = list(await session.scalars(select(LedgerRow).where(LedgerRow.kind == "storage")))
    assert sorted(r.key for r in rows) == [f"storage:-:2026-03-0{d}" for d in (1, 2, 3, 4)]
    assert total(rows, None, now).storage_cost == 0
