"""Failover where it meets the rest: readiness names the warm standby a failover would
take; a draining host is never a target; a host gone just before a restart, or lost in
the middle of a hibernate, still fails its instance over; an internal error gives the
new host back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.accounts import sign_up
from tests.support.controlplane import disconnected
from tests.support.http import running_api
from tests.support.instances import PaperProvider, accept_assign, next_command
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import (
    HOST_DISCONNECTED,
    HostDrainRow,
    HostRow,
    InstanceRow,
    OperationRow,
)
from torpor.controlplane.warmpool.schemas import PoolRequest
from torpor.proto.v1 import agent_pb2

from .test_failover import Fleet, LiveAgent, answer, failover_settings, fleet, take_over

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


async def test_a_host_gone_just_before_a_restart_fails_over_after_it(
    tmp_path: Path, database_url: str
) -> None:
    settings = failover_settings(tmp_path, database_url)
    paper = PaperProvider()
    async with running_api(settings) as api:
        api.services.providers.register(paper)
        first = Fleet(api, paper, await sign_up(api.http), [])
        old = await first.host()
        instance = await first.running(old)
        await old.close()  # disconnected; its deadline dies with this control plane
        for _ in range(200):
            async with api.services.sessions() as session:
                host = await session.get(HostRow, old.host_id)
                if host is not None and host.state == HOST_DISCONNECTED:
                    break
            await asyncio.sleep(0.02)
    async with running_api(settings) as api:
        api.services.providers.register(paper)
        fleet = Fleet(api, paper, first.owner, first.channels)
        new = await fleet.host()
        assert await take_over(new, "snap-1") == 2
        moved = await fleet.settled(instance["id"])
        assert moved["host_id"] == new.host_id
        await new.close()
        await disconnected(api.services, new.host_id)  # see disconnected(): SQLite hang
    for channel in fleet.channels:
        await channel.close()


async def test_a_host_lost_during_a_hibernate_fails_over(fleet: Fleet) -> None:
    old = await fleet.host()
    instance = await fleet.running(old)
    new = await fleet.host()
    asked = await fleet.api.http.post(
        f"/api/v1/instances/{instance['id']}/hibernate", headers=fleet.owner.headers
    )
    assert asked.status_code == 202, asked.text
    final = await next_command(old)
    assert final.WhichOneof("kind") == "take_snapshot"
    assert old.beating is not None
    old.beating.cancel()  # the host falls silent mid-snapshot, its stream still open
    assert await take_over(new, "snap-1") == 2
    moved = await fleet.settled(instance["id"])
    assert moved["host_id"] == new.host_id
    kinds = await fleet.kinds_after(instance["id"], "instance.failover_finished")
    assert kinds.index("instance.hibernate_failed") < kinds.index("instance.failover_started")
    await old.close()
    await new.close()


async def test_a_loss_reported_mid_hibernate_fails_over_once_the_hibernate_ends(
    fleet: Fleet,
) -> None:
    """The order the silent host above may or may not take: the loss is reported while
    the hibernate still runs; the failover starts when the hibernate has failed."""
    old = await fleet.host()
    instance = await fleet.running(old)
    new = await fleet.host()
    asked = await fleet.api.http.post(
        f"/api/v1/instances/{instance['id']}/hibernate", headers=fleet.owner.headers
    )
    assert asked.status_code == 202, asked.text
    final = await next_command(old)
    await fleet.api.services.failover.on_host_lost(old.host_id, "silent")
    assert (await fleet.get(instance["id"]))["state"] == "hibernating"  # left to finish
    await answer_failed(old, final)  # the snapshot fails: running again, on a lost host
    fence = await next_command(old)
    assert fence.WhichOneof("kind") == "fence"
    await answer(old, fence)
    assert await take_over(new, "snap-1") == 2
    moved = await fleet.settled(instance["id"])
    assert moved["host_id"] == new.host_id
    await old.close()
    await new.close()


async def answer_failed(agent: LiveAgent, command: agent_pb2.Command) -> None:
    result = agent_pb2.CommandResult(command_id=command.id, ok=False, error="disk gone")
    await agent.send(agent_pb2.AgentMessage(command_result=result))


async def test_an_internal_error_in_a_failover_gives_the_new_host_back(fleet: Fleet) -> None:
    old = await fleet.host()
    instance = await fleet.running(old)
    new = await fleet.host()

    async def broken(operation: OperationRow, row: InstanceRow) -> str:
        raise RuntimeError("a bug")

    fleet.api.services.instances.orchestrator.register("failover", {"configure": broken})
    await old.close()
    await accept_assign(new)
    await answer(new, await next_command(new))  # the restore
    await fleet.kinds_after(instance["id"], "instance.failover_failed")
    seen = await fleet.settled(instance["id"], "hibernated")
    assert seen["host_id"] is None
    assert sorted(fleet.paper.released) == ["lease-1", "lease-2"]
    status = (
        await fleet.api.http.get(
            f"/api/v1/failover/status/{instance['id']}", headers=fleet.owner.headers
        )
    ).json()
    assert [(p["epoch"], p["end_reason"]) for p in status["placements"]] == [
        (2, "failover_failed"),
        (1, "failed_over"),
    ]
    await new.close()


async def test_an_internal_error_before_the_old_host_is_released_gives_both_back(
    fleet: Fleet,
) -> None:
    """Stopping between choosing the target and releasing the old host: the instance ends
    unplaced, so neither its new host nor its old one is kept (or paid for)."""
    old = await fleet.host()
    instance = await fleet.running(old)
    new = await fleet.host()

    async def broken(operation: OperationRow, row: InstanceRow) -> str:
        raise RuntimeError("a bug")

    fleet.api.services.instances.orchestrator.register("failover", {"release_old": broken})
    await old.close()
    await fleet.kinds_after(instance["id"], "instance.failover_failed")
    seen = await fleet.settled(instance["id"], "hibernated")
    assert seen["host_id"] is None
    assert sorted(fleet.paper.released) == ["lease-1", "lease-2"]
    await new.close()
