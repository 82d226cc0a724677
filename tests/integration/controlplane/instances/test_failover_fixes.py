"""Failover's edge cases found in review: a requested failover with nowhere to go leaves
the instance running on its (working) host; a claim resumed after a crash gets back the
standby it claimed, in whichever region; a partitioned old host whose release cannot be
confirmed has fenced itself before the new one is assigned."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.support.accounts import sign_up
from tests.support.http import running_api
from tests.support.instances import PaperProvider, lifecycle_settings, next_command
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import HostRow, InstanceRow, OperationRow, StandbyHostRow
from torpor.controlplane.errors import Unavailable
from torpor.controlplane.failover import placements
from torpor.controlplane.warmpool.schemas import PoolRequest

from .test_failover import Fleet, answer, fleet

pytestmark = pytest.mark.integration
__all__ = ["fleet"]


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
    await fleet.api.services.instances.orchestrator.wait(asked.json()["operation"]["id"])
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
    steps = services.failover.steps
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


async def test_an_unconfirmed_old_host_has_fenced_itself_before_the_new_one_is_assigned(
    tmp_path: Path, database_url: str
) -> None:
    settings = lifecycle_settings(
        tmp_path,
        database_url,
        heartbeat_ttl_s=1.0,
        heartbeat_grace_s=0.5,
        fence_after_s=2.0,
        fence_margin_s=1.0,
    )
    async with running_api(settings) as api:
        paper = PaperProvider()
        api.services.providers.register(paper)
        fleet = Fleet(api, paper, await sign_up(api.http), [])
        old = await fleet.host()
        instance = await fleet.running(old)
        new = await fleet.host()

        async def cloud_api_down(lease_id: str, *, lost: bool = False) -> None:
            raise Unavailable("the cloud API did not answer")

        paper.release = cloud_api_down  # type: ignore[method-assign]
        await old.close()  # partitioned: no Fence reaches it, its release is not confirmed
        assign = await next_command(new)
        assigned_at = utc_now()
        assert assign.WhichOneof("kind") == "assign"
        async with api.services.sessions() as session:
            host = await session.get(HostRow, old.host_id)
        assert host is not None and host.last_heartbeat_at is not None
        assert assigned_at >= host.last_heartbeat_at + timedelta(seconds=3.0)
        await answer(new, assign)
        kinds = await fleet.kinds_after(instance["id"], "failover.waiting_for_fence")
        assert "instance.release_failed" in kinds
        await new.close()
    for channel in fleet.channels:
        await channel.close()
