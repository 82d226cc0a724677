"""The ledger's promises, over random sequences of state changes with random times,
replays and duplicated events: an instance's compute intervals tile its life with no gap
or overlap; totals are the exact sum of their parts; replaying never double counts."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.controlplane.savings.ledger_driver import (
    T0,
    Step,
    create,
    intervals,
    new_team,
    replay,
    run,
)
from torpor.controlplane.db.models import LedgerRow
from torpor.controlplane.instances import store
from torpor.controlplane.instances.states import Action
from torpor.controlplane.savings.ledger import COMPUTE_KINDS
from torpor.controlplane.savings.money import micros
from torpor.controlplane.savings.report import Totals, amounts, total
from torpor.controlplane.services import Services

pytestmark = pytest.mark.integration

steps = st.lists(
    st.builds(
        Step,
        dt_s=st.one_of(st.just(0.0), st.floats(0, 90_000, allow_nan=False)),
        host_price_cents=st.one_of(st.none(), st.just(0), st.integers(1, 10_000)),
        action=st.one_of(st.none(), st.sampled_from(list(Action))),
        replay=st.booleans(),
    ),
    max_size=14,
)


def _tiles(rows: list[LedgerRow], created: Any, deleted: Any) -> None:
    compute = [row for row in rows if row.kind in COMPUTE_KINDS]
    assert compute, "a created instance has an interval from its creation"
    assert compute[0].started_at == created
    for before, after in itertools.pairwise(compute):
        assert before.ended_at == after.started_at, "gap or overlap"
        assert before.seq + 1 == after.seq
    for row in compute:
        assert row.ended_at is None or row.ended_at >= row.started_at
    assert all(row.ended_at is not None for row in compute[:-1])
    assert compute[-1].ended_at == deleted


async def _check_one(services: Services, plan: list[Step]) -> None:
    instance_id = await create(services.sessions, "t-prop")
    last = await run(services.sessions, instance_id, plan)
    rows = await intervals(services.sessions, instance_id)
    async with services.sessions() as session:
        instance = await store.load(session, instance_id)
    _tiles(rows, T0, instance.deleted_at)
    now = last + timedelta(hours=1)
    whole = sum((micros(r.started_at, r.ended_at or now) for r in rows), 0)
    assert whole == micros(T0, instance.deleted_at or now)
    parts = [amounts(row, None, now) for row in rows]
    assert total(rows, None, now) == sum(parts, Totals())
    assert total(rows, None, now).saved == sum((p.saved for p in parts), Decimal(0))
    await replay(services.sessions, instance_id, now)  # a restart after it all
    again = await intervals(services.sessions, instance_id)
    assert [(r.key, r.ended_at) for r in again] == [(r.key, r.ended_at) for r in rows]


async def test_intervals_tile_sum_and_never_double_count(
    services: Services, database_url: str
) -> None:
    await new_team(services.sessions, "t-prop")
    loop = asyncio.get_running_loop()
    examples = 60 if database_url.startswith("sqlite") else 15

    def wait(coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(plan=steps)
    def check(plan: list[Step]) -> None:
        wait(_check_one(services, plan))

    await asyncio.to_thread(check)
