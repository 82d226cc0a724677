"""In-process control-plane fixtures: services over a migrated database, a running
ControlPlane with gRPC on a free localhost port, and a scripted agent on a real channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from torpor.controlplane.db.engine import create_engine
from torpor.controlplane.db.migrate import upgrade_database
from torpor.controlplane.fleet.schemas import HeartbeatPolicy
from torpor.controlplane.runtime import ControlPlane
from torpor.controlplane.services import Services, build_services
from torpor.controlplane.settings import Settings
from torpor.proto.v1 import agent_pb2, agent_pb2_grpc

# Tiny numbers keep liveness tests fast; the rules are the same as with 5/10/10 s.
FAST_POLICY = HeartbeatPolicy(interval_s=0.1, ttl_s=0.2, grace_s=0.2)


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    """Every domain service over a freshly migrated database (nothing started)."""
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    built = build_services(engine, FAST_POLICY)
    yield built
    await built.hub.stop()
    await engine.dispose()


def fast_settings(state_dir: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "state_dir": state_dir,
        "database_url": database_url,
        "grpc_port": 0,
        "http_port": 0,
        # A host is lost after 2 s of silence: short enough for the loss tests, long enough
        # that a 2-core CI machine under load never loses a healthy scripted agent (0.6 s did).
        "heartbeat_interval_s": 0.2,
        "heartbeat_ttl_s": 1.0,
        "heartbeat_grace_s": 1.0,
        # Cheap argon2 and generous rate limits: tests register many users from one address.
        # Tests of the limits themselves set them low.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 1024,
        "login_rate_per_minute": 1000,
        "login_address_rate_per_minute": 1000,
        "register_rate_per_minute": 1000,
        "api_key_rate_per_minute": 1000,
    }
    values.update(overrides)
    # must exceed ttl + grace (validated); tests that stretch the heartbeat stretch it too
    lost_after_s = values["heartbeat_ttl_s"] + values["heartbeat_grace_s"]
    values.setdefault("fence_after_s", max(60.0, 2 * lost_after_s))
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return fast_settings(tmp_path, database_url)


@pytest.fixture
async def control_plane(settings: Settings) -> AsyncIterator[ControlPlane]:
    """A running control plane; gRPC listens on `control_plane.grpc_port`."""
    async with ControlPlane(settings) as running:
        yield running


@pytest.fixture
async def grpc_channel(control_plane: ControlPlane) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{control_plane.grpc_port}") as channel:
        yield channel


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class ScriptedAgent:
    """An agent driven step by step by a test, over a real gRPC stream."""

    host_id: str
    credential: str
    channel: grpc.aio.Channel
    call: Any = None
    seq: int = 0

    async def open(self, hello_host_id: str | None = None, first: Any = None) -> None:
        stub = agent_pb2_grpc.AgentServiceStub(self.channel)
        self.call = stub.Connect(metadata=bearer(self.credential))
        hello = agent_pb2.Hello(
            host_id=hello_host_id or self.host_id,
            hostname="gpu-test",
            agent_version="9.9.9",
            os="Linux test",
            labels={"zone": "a"},
        )
        await self.send(first if first is not None else agent_pb2.AgentMessage(hello=hello))

    async def send(self, message: agent_pb2.AgentMessage) -> None:
        self.seq += 1
        message.seq = self.seq
        await self.call.write(message)

    async def receive(self) -> agent_pb2.ControlMessage:
        message = await self.call.read()
        assert message is not grpc.aio.EOF, "the control plane ended the stream"
        return message  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self.call is not None:
            await self.call.done_writing()


async def join(channel: grpc.aio.Channel, token: str, nonce: str = "nonce-1") -> ScriptedAgent:
    stub = agent_pb2_grpc.AgentServiceStub(channel)
    answer = await stub.Join(
        agent_pb2.JoinRequest(join_token=token, hostname="gpu-test", join_nonce=nonce)
    )
    return ScriptedAgent(answer.host_id, answer.host_credential, channel)


async def disconnected(services: Services, host_id: str, timeout_s: float = 5.0) -> None:
    """Waits until a stopped agent's host is recorded disconnected. Tests that stop real
    agents call this before the control plane stops: a shutdown racing that write was seen
    to leave an aiosqlite connection that never closes (a teardown stuck for 120 s)."""
    for _ in range(int(timeout_s / 0.05)):
        if (await services.hosts.get(host_id)).state == "disconnected":
            return
        await asyncio.sleep(0.05)
