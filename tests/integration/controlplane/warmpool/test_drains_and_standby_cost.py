"""Warm pools and the rest of the control plane: a standby on a draining host is never
claimed (nor peeked) and the reconciler gives it back; a standby's interval reaches the
savings ledger once, when it is claimed or released, at its price."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from tests.support.instances import PaperProvider
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import (
    HOST_CONNECTED,
    HostDrainRow,
    HostRow,
    LedgerRow,
    StandbyHostRow,
)
from torpor.controlplane.providers.base import HostSpec
from torpor.controlplane.savings.money import micros, per_hour, present
from torpor.controlplane.services import Services
from torpor.controlplane.warmpool.claiming import PoolClaims
from torpor.controlplane.warmpool.cost import charge_closed
from torpor.controlplane.warmpool.schemas import PoolRequest

pytestmark = pytest.mark.integration
H100 = HostSpec("H100", 1, "paper-1", instance_id="i-x")


async def one_standby(services: Services, hours_ago: float = 0) -> StandbyHostRow:
    """A pool of one, filled; its standby acquired `hours_ago`."""
    await services.warmpool.provision(PoolRequest("H100", 1, "paper-1", 1, 0))
    await services.warmpool.reconciler.tick()
    async with services.sessions.begin() as session:
        row = (await session.scalars(select(StandbyHostRow))).one()
        row.acquired_at = utc_now() - timedelta(hours=hours_ago)
        return row


async def drain(services: Services, host_id: str) -> None:
    now = utc_now()
    async with services.sessions.begin() as session:
        session.add(
            HostRow(
                id=host_id,
                hostname="gpu-standby",
                state=HOST_CONNECTED,
                joined_at=now,
                credential_id="c-" + host_id[-8:],
                credential_hash="0" * 64,
                credential_issued_at=now,
            )
        )
        await session.flush()
        session.add(HostDrainRow(host_id=host_id, started_at=now, started_by="ops"))


async def standby_rows(services: Services) -> list[LedgerRow]:
    async with services.sessions() as session:
        return list(await session.scalars(select(LedgerRow).where(LedgerRow.kind == "standby")))


async def test_a_draining_standby_is_never_claimed_and_is_given_back(
    services: Services, paper: PaperProvider
) -> None:
    standby = await one_standby(services)
    claims = PoolClaims(services.sessions, services.providers)
    seen = await claims.peek(H100)
    assert seen is not None and seen.host_id == standby.host_id and not seen.holds_latest
    assert standby.host_id is not None
    await drain(services, standby.host_id)
    assert await claims.peek(H100) is None
    assert await claims.claim(H100, request_id="r1") is None
    await services.warmpool.reconciler.tick()  # released, and replaced by a host of its own
    assert paper.released == ["lease-1"]
    taken = await claims.claim(H100, request_id="r2")
    assert taken is not None and taken.lease_id == "lease-2"


async def test_a_claimed_standby_is_charged_once_at_its_price(
    services: Services, paper: PaperProvider
) -> None:
    await one_standby(services, hours_ago=2)
    claims = PoolClaims(services.sessions, services.providers)
    assert await claims.claim(H100, request_id="r1") is not None
    assert await claims.claim(H100, request_id="r1") is not None  # the same claim again
    async with services.sessions.begin() as session:
        standby = (await session.scalars(select(StandbyHostRow))).one()
        assert standby.ended_at is not None
        await charge_closed(session, standby, standby.ended_at)  # a replayed close
    charged = await standby_rows(services)
    assert len(charged) == 1
    row = charged[0]
    assert row.started_at == standby.acquired_at and row.ended_at == standby.ended_at
    assert row.host_id == standby.host_id and row.price == Decimal("2.50")
    assert row.instance_id is None and row.share_of == 1  # nobody hibernated: overhead
    assert standby.acquired_at is not None
    amount = per_hour(row.price, micros(standby.acquired_at, standby.ended_at), row.share_of)
    assert present(amount) == "5.00"  # two hours at 2.50 an hour


async def test_a_released_standby_is_charged_once(services: Services, paper: PaperProvider) -> None:
    standby = await one_standby(services, hours_ago=1)
    async with services.sessions.begin() as session:
        await session.execute(update(StandbyHostRow).values(state="releasing"))
    await services.warmpool.reconciler.release(standby.id)
    await services.warmpool.reconciler.release(standby.id)  # asked twice: nothing more
    charged = await standby_rows(services)
    assert len(charged) == 1 and paper.released == ["lease-1"]
    row = charged[0]
    assert row.ended_at is not None
    amount = per_hour(row.price, micros(row.started_at, row.ended_at), row.share_of)
    assert present(amount) == "2.50"
