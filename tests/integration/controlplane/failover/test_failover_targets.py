"""Where a failover goes (scripted agents on real gRPC streams, the paper provider placing
them): readiness names the warm standby a failover would take; a draining host is never a
target; a requested failover with nowhere to go leaves the instance running on its
(working) host; a target step resumed after a crash gets back the standby it claimed, in
whichever region."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from tests.support.instances import next_command
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import HostDrainRow, InstanceRow, OperationRow, StandbyHostRow
from torpor.controlplane.instances import placements
from torpor.controlplane.warmpool.schemas import PoolRequest

from .test_failover import Fleet, answer, fleet

pytestmark = pytest.mark.integration
__all__ = ["fleet"]


async def readiness(fleet: Fleet, ident: str) -> dict[str, object]:
    path = f"/api/v1/failover/readiness/{ident}"
    got = await fleet.api.http.get(path, headers=fleet.owner.headers)
    assert got.status_code == 200, got.text
    return dict(got.json())


async def test_readiness_names_the_standby_a_failover_would_take(fleet: Fleet) -> None:
    old = await fleet.host()
    instance = await fleet.running(old)
    before = await readiness(fleet, instance["id"])
    assert before["warm_target"] is False and before["warm_target_host_id"] is None
    warm = fleet.api.services.warmpool
    fleet.paper.host_id = None  # the standby gets a host of its own
    await warm.provision(PoolRequest("H100", 1, "paper-1", 1, 0))
    await warm.reconciler.tick()
    after = await readiness(fleet, instance["id"])
    standby = (await warm.hosts())[0]
    assert after["warm_target"] is True and after["warm_target_host_id"] == standby.host_id
    assert after["warm_target_holds_latest"] is False  # it prefetched nothing yet
    await old.close()


async def test_a_draining_host_is_never_the_failover_target(fleet: Fleet) -> None:
    old = await fleet.host()
    instance = await fleet.running(old)
    new = await fleet.host()  # the provider would place the next host here...
    async with fleet.api.services.sessions.begin() as session:  # ...but it is being drained
        session.add(HostDrainRow(host_id=new.host_id, started_at=utc_now(), started_by="ops"))
    await old.close()
    kinds = await fleet.kinds_after(instance["id"], "instance.failover_failed")
    seen = await fleet.settled(instance["id"], "hibernated")
    assert seen["host_id"] is None and "lease-2" in fleet.paper.released
    assert "failover.target_chosen" not in kinds
    await new.close()


async def test_a_requested_failover_with_no_target_keeps_the_old_host(fleet: Fleet) -> None:
    old = await fleet.host()
    instance = await fleet.running(old)
    fleet.paper.refuse = True  # no new host can be had, and no standby is warm
    asked = await fleet.api.http.post(
        f"/api/v1/instances/{instance['id']}/failover", headers=fleet.owner.headers
    )
    assert asked.status_code == 202, asked.text
    last = await next_command(old)
    assert last.WhichOneof("kind") == "take_snapshot"
    await answer(old, last, snapshot_id="snap-last")
    await fleet.api.services.operations.wait(asked.json()["operation"]["id"])
    seen = await fleet.settled(instance["id"])
    assert seen["host_id"] == old.host_id
    async with fleet.api.services.sessions() as session:
        row = await session.get(InstanceRow, instance["id"])
    assert row is not None and row.epoch == 1 and row.lease_id == "lease-1"
    assert fleet.paper.released == []  # the working host is kept
    kinds = await fleet.kinds_after(instance["id"], "instance.failover_failed")
    assert "instance.release_failed" not in kinds and "failover.target_chosen" not in kinds
    events = await fleet.api.services.events.after(0, None, 500, instance_id=instance["id"])
    failed = next(e for e in events if e.kind == "instance.failover_failed")
    assert "no paper host can be had" in failed.message and old.host_id in failed.message
    await old.close()


async def test_a_resumed_target_step_gets_back_its_other_region_standby(fleet: Fleet) -> None:
    old = await fleet.host()
    instance = await fleet.running(old)
    services = fleet.api.services
    warm = services.warmpool
    assert warm is not None
    fleet.paper.host_id = None  # the standby gets a host of its own
    await warm.provision(PoolRequest("H100", 1, "paper-1", 2, 0))
    await warm.reconciler.tick()
    async with services.sessions.begin() as session:  # the instance lives in another region
        await session.execute(
            update(InstanceRow).where(InstanceRow.id == instance["id"]).values(region="paper-2")
        )
    put = await fleet.api.http.put(
        f"/api/v1/instances/{instance['id']}/failover/settings",
        json={"allow_other_region": True},
        headers=fleet.owner.headers,
    )
    assert put.status_code == 200, put.text
    async with services.sessions() as session:
        row = await session.get(InstanceRow, instance["id"])
    assert row is not None
    operation = OperationRow(id="op-resumed", request_id="req-resumed")
    steps = services.failover_steps
    first, rule = await steps._choose(operation, row, old.host_id)
    assert rule == placements.STANDBY_OTHER_REGION
    async with services.sessions.begin() as session:  # a standby in its own region, now
        await session.execute(
            update(StandbyHostRow)
            .where(StandbyHostRow.claim_request_id.is_(None))
            .values(region="paper-2")
        )
    again, rule = await steps._choose(operation, row, old.host_id)  # after a crash
    assert again.host_id == first.host_id and rule == placements.STANDBY_OTHER_REGION
    async with services.sessions() as session:
        claimed = await session.scalars(select(StandbyHostRow.claim_request_id))
    assert [c for c in claimed if c] == ["req-resumed"]  # one standby claimed, none leaked
    await old.close()
