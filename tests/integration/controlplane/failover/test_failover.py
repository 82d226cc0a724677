"""Failover with scripted agents on real gRPC streams (a paper provider places them): a
lost host's instance moves to a new host at epoch N+1 (Assign, then Restore, both carrying
the epoch); the old host, back, gets a Fence and its snapshots are ignored; a restart fails
nothing over; a preemption notice takes a last snapshot first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.accounts import Account, sign_up
from tests.support.controlplane import ScriptedAgent, disconnected
from tests.support.http import ApiClient, running_api
from tests.support.instances import (
    SPEC,
    PaperProvider,
    accept_assign,
    add_snapshot,
    join_paper_host,
    lifecycle_settings,
    next_command,
)
from torpor.common.timestamps import to_timestamp, utc_now
from torpor.controlplane.errors import Conflict
from torpor.controlplane.settings import Settings
from torpor.proto.v1 import agent_pb2, common_pb2

pytestmark = pytest.mark.integration


def failover_settings(tmp_path: Path, database_url: str) -> Settings:
    """A host is lost after 1.5 s of silence; the agents' answers have 30 s."""
    return lifecycle_settings(
        tmp_path,
        database_url,
        heartbeat_ttl_s=1.0,
        heartbeat_grace_s=0.5,
        restore_timeout_s=30,
        agent_command_timeout_s=30,
        snapshot_timeout_s=30,
    )


@dataclass
class LiveAgent(ScriptedAgent):
    """A scripted agent that sends telemetry every 0.2 s, so only the host a test stops
    falls silent (writes share a lock: a gRPC call takes one write at a time)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    beating: asyncio.Task[None] | None = None

    async def send(self, message: agent_pb2.AgentMessage) -> None:
        async with self.lock:
            await super().send(message)

    async def connect(self) -> LiveAgent:
        await self.open()
        assert (await self.receive()).HasField("welcome")
        self.beating = asyncio.create_task(self._beat())
        return self

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            await self.send(agent_pb2.AgentMessage(telemetry=common_pb2.Telemetry()))

    async def close(self) -> None:
        if self.beating is not None:
            self.beating.cancel()
        await super().close()


@dataclass
class Fleet:
    api: ApiClient
    paper: PaperProvider
    owner: Account
    channels: list[grpc.aio.Channel]

    async def host(self) -> LiveAgent:
        """A new scripted host, connected; the paper provider places the next host there."""
        joined = await join_paper_host(self.api, self.paper)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.api.control_plane.grpc_port}")
        self.channels.append(channel)
        return await LiveAgent(joined.host_id, joined.credential, channel).connect()

    async def running(self, agent: ScriptedAgent) -> dict[str, Any]:
        """An instance placed on `agent` (Assign answered), with a snapshot to restore."""
        created = await self.api.http.post(
            "/api/v1/instances", json=SPEC, headers=self.owner.headers
        )
        assert created.status_code == 202, created.text
        await accept_assign(agent)
        await self.api.services.operations.wait(created.json()["operation"]["id"])
        await add_snapshot(self.api.services, created.json()["id"], "snap-1")
        return await self.get(created.json()["id"])

    async def get(self, ident: str) -> dict[str, Any]:
        response = await self.api.http.get(f"/api/v1/instances/{ident}", headers=self.owner.headers)
        return dict(response.json())

    async def settled(self, ident: str, state: str = "running") -> dict[str, Any]:
        for _ in range(600):
            seen = await self.get(ident)
            if seen["state"] == state and seen["operation"] is None:
                return seen
            await asyncio.sleep(0.05)
        raise AssertionError(f"instance {ident} never settled {state}: {seen}")

    async def kinds(self, ident: str) -> list[str]:
        events = await self.api.services.events.after(0, None, 500, instance_id=ident)
        return [e.kind for e in events]

    async def kinds_after(self, ident: str, kind: str) -> list[str]:
        """The instance's event kinds once `kind` is among them (events follow the state
        change that a test polls for)."""
        for _ in range(600):
            if kind in (kinds := await self.kinds(ident)):
                return kinds
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind} event for {ident}: {kinds}")


@pytest.fixture
async def fleet(tmp_path: Path, database_url: str) -> AsyncIterator[Fleet]:
    async with running_api(failover_settings(tmp_path, database_url)) as api:
        paper = PaperProvider()
        api.services.providers.register(paper)
        built = Fleet(api, paper, await sign_up(api.http), [])
        yield built
    for channel in built.channels:
        await channel.close()


async def answer(agent: ScriptedAgent, command: agent_pb2.Command, **fields: Any) -> None:
    result = agent_pb2.CommandResult(command_id=command.id, ok=True, **fields)
    await agent.send(agent_pb2.AgentMessage(command_result=result))


async def take_over(new: ScriptedAgent, snapshot_id: str) -> int:
    """The new host answers Assign and Restore; both carry the new epoch, which it returns."""
    assign = await accept_assign(new)
    epoch = assign.assign.assignment.epoch
    restore = await next_command(new)
    assert restore.WhichOneof("kind") == "restore" and restore.epoch == epoch
    assert restore.restore.snapshot_id == snapshot_id
    await answer(new, restore)
    return epoch


async def test_a_lost_host_fails_over_and_is_fenced_when_it_comes_back(fleet: Fleet) -> None:
    old = await fleet.host()
    instance = await fleet.running(old)
    new = await fleet.host()  # the next placement lands here
    await old.close()  # the old host goes away and stays away past ttl + grace
    assert await take_over(new, "snap-1") == 2
    moved = await fleet.settled(instance["id"])
    assert moved["host_id"] == new.host_id and moved["latest_snapshot_id"] == "snap-1"
    assert fleet.paper.released == ["lease-1"]  # the old lease went back
    kinds = await fleet.kinds_after(instance["id"], "instance.failover_finished")
    for kind in ("instance.failover_started", "failover.target_chosen"):
        assert kind in kinds
    assert kinds.index("instance.failover_restored") < kinds.index("instance.failover_finished")
    status = (
        await fleet.api.http.get(
            f"/api/v1/failover/status/{instance['id']}", headers=fleet.owner.headers
        )
    ).json()
    assert status["epoch"] == 2 and status["last_failover"]["outcome"] == "ok"
    assert [(p["epoch"], p["host_id"], p["end_reason"]) for p in status["placements"]] == [
        (2, new.host_id, ""),
        (1, old.host_id, "failed_over"),
    ]
    assert status["last_failover_details"]["trigger"] == "host_lost"
    assert status["last_failover_details"]["chosen_by"] == "acquired"

    # the old host comes back still holding epoch 1: Welcome names nothing, then a Fence
    back = ScriptedAgent(old.host_id, old.credential, old.channel)
    held = agent_pb2.Assignment(instance_id=instance["id"], epoch=1)
    hello = agent_pb2.Hello(host_id=old.host_id, hostname="gpu-test", assignment=held)
    await back.open(first=agent_pb2.AgentMessage(hello=hello))
    welcome = (await back.receive()).welcome
    assert not welcome.HasField("assignment")
    fence = await next_command(back)
    assert fence.WhichOneof("kind") == "fence" and fence.fence.epoch == 2
    assert "host.fenced" in [e.kind for e in await fleet.api.services.events.after(0, old.host_id)]

    # a snapshot it still reports is never recorded; its idle report hibernates nothing
    asking = asyncio.create_task(
        fleet.api.services.instances.snapshot_now(instance["id"], old.host_id, "manual", epoch=1)
    )
    stale = await next_command(back)
    assert stale.WhichOneof("kind") == "take_snapshot" and stale.epoch == 1
    await answer(back, stale, snapshot_id="snap-stale")
    with pytest.raises(Conflict, match="no longer placed there"):
        await asking
    await back.send(agent_pb2.AgentMessage(idle_report=agent_pb2.IdleReport(idle=True)))
    after = await fleet.get(instance["id"])
    assert after["latest_snapshot_id"] == "snap-1" and after["state"] == "running"
    missing = await fleet.api.http.get("/api/v1/snapshots/snap-stale", headers=fleet.owner.headers)
    assert missing.status_code == 404
    await back.close()
    await new.close()


async def test_the_new_host_welcome_restates_its_assignment(fleet: Fleet) -> None:
    agent = await fleet.host()
    instance = await fleet.running(agent)
    await agent.close()
    again = ScriptedAgent(agent.host_id, agent.credential, agent.channel)
    await again.open()
    welcome = (await again.receive()).welcome
    assert welcome.assignment.instance_id == instance["id"] and welcome.assignment.epoch == 1
    assert welcome.assignment.fence_after_ms == 60_000
    await again.close()


async def test_a_restart_fails_nothing_over(tmp_path: Path, database_url: str) -> None:
    settings = failover_settings(tmp_path, database_url)
    paper = PaperProvider()
    async with running_api(settings) as api:
        api.services.providers.register(paper)
        fleet = Fleet(api, paper, await sign_up(api.http), [])
        agent = await fleet.host()
        instance = await fleet.running(agent)
        await agent.close()
        await disconnected(api.services, agent.host_id)  # see disconnected(): SQLite hang
    async with running_api(settings) as api:  # the same database, hosts still "connected"
        api.services.providers.register(paper)
        fleet = Fleet(api, paper, fleet.owner, fleet.channels)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{api.control_plane.grpc_port}")
        fleet.channels.append(channel)
        back = await LiveAgent(agent.host_id, agent.credential, channel).connect()
        await asyncio.sleep(settings.heartbeat_ttl_s * 3)  # well past ttl + grace
        seen = await fleet.get(instance["id"])
        assert seen["state"] == "running" and seen["host_id"] == agent.host_id
        assert "instance.failover_started" not in await fleet.kinds(instance["id"])
        await back.close()
        await disconnected(api.services, back.host_id)
    for channel in fleet.channels:
        await channel.close()


async def test_a_preemption_notice_takes_a_last_snapshot_then_fails_over(fleet: Fleet) -> None:
    old = await fleet.host()
    instance = await fleet.running(old)
    new = await fleet.host()
    deadline = to_timestamp(utc_now().replace(microsecond=0)).ToDatetime()
    notice = agent_pb2.PreemptionNotice(source="file", detail="spot reclaim")
    notice.deadline.FromDatetime(deadline.replace(year=deadline.year + 1))
    await old.send(agent_pb2.AgentMessage(preemption_notice=notice))
    last = await next_command(old)
    assert last.WhichOneof("kind") == "take_snapshot" and last.epoch == 1
    await answer(old, last, snapshot_id="snap-last")
    fence = await next_command(old)  # the old host still answers: it is told to stop
    assert fence.WhichOneof("kind") == "fence" and fence.fence.epoch == 2
    await answer(old, fence)
    assert await take_over(new, "snap-last") == 2
    moved = await fleet.settled(instance["id"])
    assert moved["host_id"] == new.host_id and moved["latest_snapshot_id"] == "snap-last"
    await fleet.kinds_after(instance["id"], "instance.failover_finished")
    await old.close()
    await new.close()


async def test_a_failover_without_a_snapshot_is_skipped(fleet: Fleet) -> None:
    old = await fleet.host()
    created = await fleet.api.http.post("/api/v1/instances", json=SPEC, headers=fleet.owner.headers)
    await accept_assign(old)
    await fleet.api.services.operations.wait(created.json()["operation"]["id"])
    await old.close()
    ident = created.json()["id"]
    for _ in range(100):
        if "instance.failover_skipped" in await fleet.kinds(ident):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("no instance.failover_skipped event")
    seen = await fleet.get(ident)
    assert seen["state"] == "running" and seen["host_id"] == old.host_id  # it may come back
