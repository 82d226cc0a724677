"""A host that fenced itself is brought back without a manual step, and a host its provider
can confirm gone never has to fence (scripted agents on real gRPC streams, the paper
provider standing in for a cloud API).

- `confirms_release` True: the Assign says `fence_after_ms` 0; a failover whose release of
  the old host fails retries that release (it never "waits out" a bound the host does not
  have) and assigns the new host only once the release is confirmed.
- A Hello saying `assignment.fenced`, or the agent's `instance.fenced` event: the instance
  is `fenced` (snapshots, hibernate 409; readiness not ready) until the host confirms an
  Assign at the next epoch, then `running` again on the same host (event
  `instance.reassigned`); a stale report is ignored; a fenced host that is lost instead is
  failed over.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.integration.controlplane.failover.test_failover import (
    Fleet,
    LiveAgent,
    failover_settings,
    fleet,
)
from tests.support.accounts import sign_up
from tests.support.controlplane import disconnected
from tests.support.http import running_api
from tests.support.instances import PaperProvider, accept_assign, next_command
from torpor.controlplane.errors import Unavailable
from torpor.proto.v1 import agent_pb2, common_pb2

pytestmark = pytest.mark.integration
__all__ = ["fleet"]  # the fixture, reused


async def fenced_hello(agent: LiveAgent, instance_id: str, epoch: int) -> LiveAgent:
    """The same host back with a Hello saying it holds `epoch` fenced."""
    if agent.call is not None:
        await agent.close()
    held = agent_pb2.Assignment(instance_id=instance_id, epoch=epoch, fenced=True)
    hello = agent_pb2.Hello(host_id=agent.host_id, hostname="gpu-test", assignment=held)
    back = LiveAgent(agent.host_id, agent.credential, agent.channel)
    await back.open(first=agent_pb2.AgentMessage(hello=hello))
    assert (await back.receive()).HasField("welcome")
    back.beating = asyncio.create_task(back._beat())
    return back


async def placed(fleet: Fleet) -> tuple[LiveAgent, dict[str, Any]]:
    agent = await fleet.host()
    return agent, await fleet.running(agent)


async def answer(agent: LiveAgent, command: agent_pb2.Command, ok: bool = True) -> None:
    result = agent_pb2.CommandResult(command_id=command.id, ok=ok)
    await agent.send(agent_pb2.AgentMessage(command_result=result))


async def test_a_confirmable_provider_tells_its_hosts_never_to_fence(fleet: Fleet) -> None:
    fleet.paper.confirms_release = True
    agent = await fleet.host()
    created = await fleet.api.http.post(
        "/api/v1/instances",
        json={"gpu_type": "H100", "gpu_count": 1, "region": "paper-1"},
        headers=fleet.owner.headers,
    )
    assign = await accept_assign(agent)
    assert assign.assign.assignment.fence_after_ms == 0
    await fleet.settled(created.json()["id"])
    await agent.close()


async def test_a_host_saying_it_is_fenced_is_reassigned_in_place(fleet: Fleet) -> None:
    agent, instance = await placed(fleet)
    ident = instance["id"]
    back = await fenced_hello(agent, ident, epoch=1)
    assign = await next_command(back)
    assert assign.WhichOneof("kind") == "assign" and assign.assign.assignment.epoch == 2
    # while the host has not confirmed: fenced, never running, and nothing pretends otherwise
    seen = await fleet.get(ident)
    assert seen["state"] == "fenced" and seen["host_id"] == instance["host_id"]
    headers = fleet.owner.headers
    snap = await fleet.api.http.post(
        f"/api/v1/instances/{ident}/snapshots", json={}, headers=headers
    )
    assert snap.status_code == 409 and "fenced" in snap.text
    hibernate = await fleet.api.http.post(f"/api/v1/instances/{ident}/hibernate", headers=headers)
    assert hibernate.status_code == 409
    ready = (
        await fleet.api.http.get(f"/api/v1/failover/readiness/{ident}", headers=headers)
    ).json()
    assert not ready["ready"] and any("fenced" in reason for reason in ready["reasons"])

    await answer(back, assign)
    running = await fleet.settled(ident)
    assert running["host_id"] == instance["host_id"]
    kinds = await fleet.kinds_after(ident, "instance.reassigned")
    assert "instance.host_fenced" in kinds and "instance.failover_started" not in kinds
    status = (await fleet.api.http.get(f"/api/v1/failover/status/{ident}", headers=headers)).json()
    assert status["epoch"] == 2
    assert [(p["epoch"], p["end_reason"]) for p in status["placements"]] == [(2, ""), (1, "fenced")]
    await back.close()


async def test_the_fenced_event_alone_brings_it_back(fleet: Fleet) -> None:
    agent, instance = await placed(fleet)
    await agent.send(fenced_event(instance["id"], 1))
    assign = await next_command(agent)
    assert assign.WhichOneof("kind") == "assign" and assign.assign.assignment.epoch == 2
    await answer(agent, assign)
    await fleet.kinds_after(instance["id"], "instance.reassigned")
    assert (await fleet.settled(instance["id"]))["state"] == "running"
    await agent.close()


async def test_a_stale_fenced_report_is_ignored(fleet: Fleet) -> None:
    agent, instance = await placed(fleet)
    await agent.send(fenced_event(instance["id"], 7))  # not the epoch it holds
    await agent.send(fenced_event("i-not-on-this-host", 1))
    await asyncio.sleep(1.0)
    assert (await fleet.get(instance["id"]))["state"] == "running"
    assert "instance.host_fenced" not in await fleet.kinds(instance["id"])
    await agent.close()


async def test_a_fenced_host_that_is_lost_instead_fails_over(fleet: Fleet) -> None:
    agent, instance = await placed(fleet)
    back = await fenced_hello(agent, instance["id"], epoch=1)
    assert (await next_command(back)).WhichOneof("kind") == "assign"  # never answered
    new = await fleet.host()
    await back.close()  # the host goes away before confirming
    await accept_assign(new)
    restore = await next_command(new)
    assert restore.WhichOneof("kind") == "restore" and restore.epoch == 3
    await answer(new, restore)
    moved = await fleet.settled(instance["id"])
    assert moved["host_id"] == new.host_id
    await new.close()


async def test_failover_waits_for_a_confirmed_release_not_a_fence_bound(fleet: Fleet) -> None:
    """The old host was told never to fence itself: while its release fails, nothing but
    a confirmed release makes the new host safe to assign."""
    fleet.paper.confirms_release = True
    agent, instance = await placed(fleet)
    old_lease = fleet.paper.acquired[next(iter(fleet.paper.acquired))].lease_id
    failures = [Unavailable("the cloud API did not answer")] * 2
    real_release = fleet.paper.release

    async def flaky(lease_id: str, *, lost: bool = False) -> None:
        if lease_id == old_lease and failures:
            raise failures.pop()
        await real_release(lease_id, lost=lost)

    fleet.paper.release = flaky  # type: ignore[method-assign]
    new = await fleet.host()
    await agent.close()  # lost: it cannot take a Fence
    await accept_assign(new)
    assert not failures and old_lease in fleet.paper.released  # released before the Assign
    restore = await next_command(new)
    await answer(new, restore)
    await fleet.settled(instance["id"])
    kinds = await fleet.kinds(instance["id"])
    assert "failover.waiting_for_release" in kinds and "failover.waiting_for_fence" not in kinds
    await new.close()


def fenced_event(instance_id: str, epoch: int) -> agent_pb2.AgentMessage:
    event = common_pb2.Event(
        id=f"fenced-{instance_id}-{epoch}",
        kind="instance.fenced",
        message=f"instance {instance_id} fenced at epoch {epoch}",
        attributes={
            "instance_id": instance_id,
            "epoch": str(epoch),
            "reason": "no control plane for 61 s (fence_after_ms=60000)",
            "processes_ended": "1",
        },
    )
    return agent_pb2.AgentMessage(event=event)


async def test_an_instance_whose_host_overran_its_bound_is_never_shown_running(
    tmp_path: Path, database_url: str
) -> None:
    """The control plane was away past the host's bound (+ margin): at start-up, before the
    host says anything, the instance is `fenced`; the host's Hello then brings it back."""
    settings = failover_settings(tmp_path, database_url).model_copy(
        update={"fence_after_s": 2.0, "fence_margin_s": 0.5}
    )
    paper = PaperProvider()
    async with running_api(settings) as api:
        api.services.providers.register(paper)
        fleet = Fleet(api, paper, await sign_up(api.http), [])
        agent = await fleet.host()
        instance = await fleet.running(agent)
        await agent.close()
        await disconnected(api.services, agent.host_id)  # see disconnected(): SQLite hang
    await asyncio.sleep(3.0)  # away: past 2 s + 0.5 s since the host was last heard
    async with running_api(settings) as api:
        api.services.providers.register(paper)
        fleet = Fleet(api, paper, fleet.owner, fleet.channels)
        seen = await fleet.get(instance["id"])
        assert seen["state"] == "fenced" and "past its fence bound" in seen["state_reason"]
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{api.control_plane.grpc_port}")
        fleet.channels.append(channel)
        back = await fenced_hello(
            LiveAgent(agent.host_id, agent.credential, channel), instance["id"], 1
        )
        assign = await next_command(back)
        assert assign.WhichOneof("kind") == "assign" and assign.assign.assignment.epoch == 2
        await answer(back, assign)
        assert (await fleet.settled(instance["id"]))["host_id"] == agent.host_id
        await back.close()
        await disconnected(api.services, back.host_id)
    for channel in fleet.channels:
        await channel.close()


async def test_a_requested_failover_with_no_target_leaves_a_fenced_instance_fenced(
    fleet: Fleet,
) -> None:
    agent, instance = await placed(fleet)
    ident = instance["id"]
    back = await fenced_hello(agent, ident, epoch=1)
    assert (await next_command(back)).WhichOneof("kind") == "assign"  # not answered yet
    assert (await fleet.get(ident))["state"] == "fenced"
    fleet.paper.refuse = True  # no new host, no standby
    asked = await fleet.api.http.post(
        f"/api/v1/instances/{ident}/failover", headers=fleet.owner.headers
    )
    assert asked.status_code == 202, asked.text
    last = await next_command(back)  # the last snapshot first: a fenced host refuses it
    assert last.WhichOneof("kind") == "take_snapshot"
    refused = agent_pb2.CommandResult(command_id=last.id, ok=False, fenced=True, error="fenced")
    await back.send(agent_pb2.AgentMessage(command_result=refused))
    await fleet.api.services.operations.wait(asked.json()["operation"]["id"])
    await fleet.kinds_after(ident, "instance.failover_failed")
    seen = await fleet.get(ident)
    assert seen["state"] == "fenced"  # its host's work is still stopped: never "running"
    await back.close()
