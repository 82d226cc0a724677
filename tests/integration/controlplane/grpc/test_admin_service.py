"""AdminService over a real localhost socket: every call needs an admin token."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from tests.support.controlplane import ScriptedAgent, bearer, join
from torpor.controlplane.events.schemas import Event
from torpor.controlplane.runtime import ControlPlane
from torpor.proto.v1 import admin_pb2, admin_pb2_grpc, agent_pb2

pytestmark = pytest.mark.integration


@pytest.fixture
async def admin(control_plane: ControlPlane) -> str:
    return await control_plane.services.admin_tokens.create("test")


@pytest.fixture
async def agent(control_plane: ControlPlane, grpc_channel: grpc.aio.Channel) -> ScriptedAgent:
    token = await control_plane.services.join_tokens.create(60)
    connected = await join(grpc_channel, token)
    await connected.open()
    await connected.receive()  # Welcome
    return connected


async def test_calls_without_a_valid_token_are_unauthenticated(
    grpc_channel: grpc.aio.Channel,
) -> None:
    stub = admin_pb2_grpc.AdminServiceStub(grpc_channel)
    for metadata in (None, bearer("tat_nope.nope"), bearer("thc_h-1.x")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListHosts(admin_pb2.ListHostsRequest(), metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in stub.WatchEvents(admin_pb2.WatchEventsRequest()):
            pass
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_list_and_get_hosts(
    grpc_channel: grpc.aio.Channel, admin: str, agent: ScriptedAgent, control_plane: ControlPlane
) -> None:
    stub = admin_pb2_grpc.AdminServiceStub(grpc_channel)
    await control_plane.services.join_tokens.redeem(
        await control_plane.services.join_tokens.create(60), "idle", "n"
    )
    every = await stub.ListHosts(admin_pb2.ListHostsRequest(), metadata=bearer(admin))
    assert len(every.hosts) == 2
    connected = await stub.ListHosts(
        admin_pb2.ListHostsRequest(state=admin_pb2.HOST_STATE_CONNECTED), metadata=bearer(admin)
    )
    assert [h.id for h in connected.hosts] == [agent.host_id]
    host = await stub.GetHost(admin_pb2.GetHostRequest(id=agent.host_id), metadata=bearer(admin))
    assert (host.hostname, host.labels["zone"]) == ("gpu-test", "a")
    assert host.state == admin_pb2.HOST_STATE_CONNECTED and host.HasField("connected_at")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetHost(admin_pb2.GetHostRequest(id="h-nope"), metadata=bearer(admin))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_watch_events_streams_live_and_replays_after_an_id(
    grpc_channel: grpc.aio.Channel, admin: str, control_plane: ControlPlane
) -> None:
    stub = admin_pb2_grpc.AdminServiceStub(grpc_channel)
    marker = await control_plane.services.bus.publish(Event("test.marker", "before the agent"))
    live = stub.WatchEvents(admin_pb2.WatchEventsRequest(after_id=0), metadata=bearer(admin))
    await asyncio.sleep(0.1)  # after_id=0: only events from now on
    agent = await join(grpc_channel, await control_plane.services.join_tokens.create(60))
    await agent.open()
    await agent.receive()
    first = await asyncio.wait_for(live.read(), 5)
    assert (first.kind, first.host_id) == ("host.connected", agent.host_id)
    await agent.close()
    second = await asyncio.wait_for(live.read(), 5)
    assert second.kind == "host.disconnected" and second.seq > first.seq
    live.cancel()
    replay = stub.WatchEvents(
        admin_pb2.WatchEventsRequest(after_id=marker.seq, host_id=agent.host_id),
        metadata=bearer(admin),
    )
    replayed = [await asyncio.wait_for(replay.read(), 5) for _ in range(2)]
    assert [e.seq for e in replayed] == [first.seq, second.seq]
    replay.cancel()


async def test_ping_host(
    grpc_channel: grpc.aio.Channel, admin: str, agent: ScriptedAgent, control_plane: ControlPlane
) -> None:
    stub = admin_pb2_grpc.AdminServiceStub(grpc_channel)

    async def answer_one_command() -> None:
        message = await agent.receive()
        while message.WhichOneof("payload") != "command":
            message = await agent.receive()
        result = agent_pb2.CommandResult(command_id=message.command.id, ok=True)
        await agent.send(agent_pb2.AgentMessage(command_result=result))

    answering = asyncio.create_task(answer_one_command())
    pong = await stub.PingHost(
        admin_pb2.PingHostRequest(host_id=agent.host_id, timeout_ms=5000), metadata=bearer(admin)
    )
    await answering
    assert pong.round_trip_ms < 5000
    with pytest.raises(grpc.aio.AioRpcError) as silent:  # nobody answers this one
        await stub.PingHost(
            admin_pb2.PingHostRequest(host_id=agent.host_id, timeout_ms=100),
            metadata=bearer(admin),
        )
    assert silent.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.PingHost(admin_pb2.PingHostRequest(host_id="h-nope"), metadata=bearer(admin))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    await agent.close()
    for _ in range(100):
        if not control_plane.services.hub.is_connected(agent.host_id):
            break
        await asyncio.sleep(0.02)
    with pytest.raises(grpc.aio.AioRpcError) as offline:
        await stub.PingHost(
            admin_pb2.PingHostRequest(host_id=agent.host_id), metadata=bearer(admin)
        )
    assert offline.value.code() == grpc.StatusCode.FAILED_PRECONDITION
