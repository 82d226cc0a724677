"""A cent-exact worked example through the real hook: 3 h running on a $2.49/h host, then
21 h hibernated: $7.47 spent, $52.29 saved."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.integration.controlplane.savings.ledger_driver import (
    T0,
    Step,
    create,
    intervals,
    new_team,
    run,
)
from torpor.controlplane.instances.states import Action
from torpor.controlplane.savings.money import present
from torpor.controlplane.savings.report import total
from torpor.controlplane.services import Services

pytestmark = pytest.mark.integration
DAY = [
    Step(0, host_price_cents=249, action=Action.PROVISIONED),
    Step(3 * 3600, action=Action.HIBERNATE),
    Step(0, host_price_cents=0, action=Action.HIBERNATED),
    Step(21 * 3600, action=Action.WAKE),
]


async def test_three_hours_running_then_twenty_one_hibernated(services: Services) -> None:
    await new_team(services.sessions, "t-ex")
    instance_id = await create(services.sessions, "t-ex")
    last = await run(services.sessions, instance_id, DAY)
    rows = await intervals(services.sessions, instance_id)
    assert [(r.kind, r.price, r.source) for r in rows] == [
        ("unplaced", Decimal(0), "provisioning"),  # no host for 0 s
        ("running", Decimal("2.49"), "running"),
        ("hibernated", Decimal("2.49"), "hibernated"),
    ]
    assert last == T0 + timedelta(hours=24)
    totals = total(rows, None, last)
    assert present(totals.compute_cost) == "7.47"
    assert present(totals.saved_gross) == "52.29" == present(totals.saved)
    assert totals.running_hours == 3 and totals.hibernated_hours == 21


async def test_the_price_is_the_hosts_at_the_time(services: Services) -> None:
    """A wake onto a dearer host: the next hibernation saves that host's price."""
    await new_team(services.sessions, "t-ex")
    instance_id = await create(services.sessions, "t-ex")
    plan = [
        *DAY,
        Step(600, host_price_cents=300, action=Action.WOKE),
        Step(3600, action=Action.HIBERNATE),
        Step(0, host_price_cents=0, action=Action.HIBERNATED),
        Step(3600, action=Action.DELETE),
    ]
    await run(services.sessions, instance_id, plan)
    rows = await intervals(services.sessions, instance_id)
    assert [(r.kind, str(r.price)) for r in rows] == [
        ("unplaced", "0"),
        ("running", "2.49"),
        ("hibernated", "2.49"),  # waking on no host yet: still saving
        ("running", "3"),
        ("hibernated", "3"),
    ]
    assert rows[-1].ended_at is not None
    totals = total(rows, None, rows[-1].ended_at)
    # 3 h x 2.49 + 1 h x 3.00; saved 21 h 10 min x 2.49 + 1 h x 3.00 = 55.705 exactly,
    # which rounds half-even (to the even cent) to 55.70
    assert present(totals.compute_cost) == "10.47"
    assert totals.saved_gross == Decimal("55.705")
    assert present(totals.saved_gross) == "55.70"
