"""A host lost around other work still fails its instance over (scripted agents on real
gRPC streams, the paper provider placing them): gone just before a control-plane restart,
or lost in the middle of a hibernate, whichever order the loss and the failed snapshot
come in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.accounts import sign_up
from tests.support.controlplane import disconnected
from tests.support.http import running_api
from tests.support.instances import PaperProvider, next_command
from torpor.controlplane.db.models import HOST_DISCONNECTED, HostRow
from torpor.proto.v1 import agent_pb2

from .test_failover import Fleet, LiveAgent, answer, failover_settings, fleet, take_over

pytestmark = pytest.mark.integration
__all__ = ["fleet"]


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
