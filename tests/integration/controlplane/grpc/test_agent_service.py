"""AgentService over a real localhost socket, with the generated stubs acting as an agent."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from tests.support.controlplane import ScriptedAgent, join
from torpor.common.timestamps import to_timestamp, utc_now
from torpor.controlplane.runtime import ControlPlane
from torpor.proto.v1 import agent_pb2, agent_pb2_grpc, common_pb2

pytestmark = pytest.mark.integration


async def new_agent(control_plane: ControlPlane, channel: grpc.aio.Channel) -> ScriptedAgent:
    token = await control_plane.services.join_tokens.create(60)
    return await join(channel, token)


async def eventually_state(control_plane: ControlPlane, host_id: str, state: str) -> None:
    for _ in range(250):
        if (await control_plane.services.hosts.get(host_id)).state == state:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"host {host_id} never became {state}")


async def test_join_connect_hello_welcome_telemetry(
    control_plane: ControlPlane, grpc_channel: grpc.aio.Channel
) -> None:
    agent = await new_agent(control_plane, grpc_channel)
    assert agent.host_id.startswith("h-") and agent.credential.startswith("thc_")
    await agent.open()
    welcome = (await agent.receive()).welcome
    assert welcome.host_id == agent.host_id and welcome.server_version
    assert (welcome.heartbeat.interval_ms, welcome.heartbeat.ttl_ms) == (200, 1000)
    assert welcome.heartbeat.grace_ms == 1000
    telemetry = common_pb2.Telemetry(
        at=to_timestamp(utc_now()), host=common_pb2.HostTelemetry(cpu_percent=42.0)
    )
    await agent.send(agent_pb2.AgentMessage(telemetry=telemetry))
    await agent.send(
        agent_pb2.AgentMessage(
            event=common_pb2.Event(
                id="ev-1", kind="agent.note", message="hi", host_id="h-someone-else"
            )
        )
    )
    for _ in range(250):
        host = await control_plane.services.hosts.get(agent.host_id)
        stored = await control_plane.services.events.by_event_id("ev-1")
        if host.telemetry is not None and stored is not None:
            break
        await asyncio.sleep(0.02)
    assert host.state == "connected" and host.agent_version == "9.9.9"
    assert host.telemetry is not None and host.telemetry["host"]["cpu_percent"] == 42.0
    assert stored is not None and stored.host_id == agent.host_id  # never another host's
    await agent.close()
    await eventually_state(control_plane, agent.host_id, "disconnected")


async def test_a_retried_join_gets_the_same_host(
    control_plane: ControlPlane, grpc_channel: grpc.aio.Channel
) -> None:
    token = await control_plane.services.join_tokens.create(60)
    first, again = await join(grpc_channel, token), await join(grpc_channel, token)
    assert first.host_id == again.host_id and first.credential != again.credential
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await join(grpc_channel, token, nonce="another")
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "already used" in (refused.value.details() or "")


async def expect_refusal(agent: ScriptedAgent, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await agent.receive()
    assert refused.value.code() == code, refused.value.details()
    return refused.value.details() or ""


async def test_a_bad_credential_is_unauthenticated(
    control_plane: ControlPlane, grpc_channel: grpc.aio.Channel
) -> None:
    agent = await new_agent(control_plane, grpc_channel)
    agent.credential = f"thc_{agent.host_id}.wrong"
    await agent.open()
    assert "not accepted" in await expect_refusal(agent, grpc.StatusCode.UNAUTHENTICATED)
    stub = agent_pb2_grpc.AgentServiceStub(grpc_channel)
    call = stub.Connect()  # no metadata at all
    await call.write(agent_pb2.AgentMessage(hello=agent_pb2.Hello(host_id=agent.host_id)))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call.read()
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_hello_for_another_host_is_permission_denied(
    control_plane: ControlPlane, grpc_channel: grpc.aio.Channel
) -> None:
    mine = await new_agent(control_plane, grpc_channel)
    other = await new_agent(control_plane, grpc_channel)
    await mine.open(hello_host_id=other.host_id)
    await expect_refusal(mine, grpc.StatusCode.PERMISSION_DENIED)
    assert (await control_plane.services.hosts.get(other.host_id)).state == "disconnected"


async def test_the_first_message_must_be_hello(
    control_plane: ControlPlane, grpc_channel: grpc.aio.Channel
) -> None:
    agent = await new_agent(control_plane, grpc_channel)
    await agent.open(first=agent_pb2.AgentMessage(telemetry=common_pb2.Telemetry()))
    assert "Hello" in await expect_refusal(agent, grpc.StatusCode.FAILED_PRECONDITION)


async def test_a_newer_stream_cancels_the_older(
    control_plane: ControlPlane, grpc_channel: grpc.aio.Channel
) -> None:
    older = await new_agent(control_plane, grpc_channel)
    newer = ScriptedAgent(older.host_id, older.credential, grpc_channel)
    await older.open()
    await older.receive()
    await newer.open()
    await newer.receive()
    assert "replaced" in await expect_refusal(older, grpc.StatusCode.UNAVAILABLE)
    assert control_plane.services.hub.is_connected(older.host_id)


async def test_a_silent_agent_is_lost(
    control_plane: ControlPlane, grpc_channel: grpc.aio.Channel
) -> None:
    agent = await new_agent(control_plane, grpc_channel)
    await agent.open()
    await agent.receive()
    assert "no message" in await expect_refusal(agent, grpc.StatusCode.UNAVAILABLE)
    last = (await control_plane.services.events.after(0, agent.host_id))[-1]
    assert last.kind == "host.lost"
