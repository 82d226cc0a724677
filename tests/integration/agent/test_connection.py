"""The agent's stream against a fake control plane on a real localhost gRPC socket."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agent.fake_control_plane import (
    CREDENTIAL,
    HOST_ID,
    FakeAgentService,
    FakeControlPlane,
)
from torpor.agent.config import ControlPlaneSection
from torpor.agent.connection import Connection
from torpor.agent.errors import PermanentError
from torpor.agent.identity import CredentialStore, HostCredential
from torpor.agent.stream import HostFacts
from torpor.agent.telemetry.host import HostProbe
from torpor.common.version import torpor_version
from torpor.proto.v1 import agent_pb2, common_pb2

pytestmark = pytest.mark.integration

FAST_POLICY = agent_pb2.HeartbeatPolicy(interval_ms=200, ttl_ms=1000, grace_ms=1000)


@pytest.fixture
async def plane() -> AsyncIterator[FakeControlPlane]:
    fake = FakeControlPlane(FakeAgentService(policy=FAST_POLICY))
    await fake.start()
    yield fake
    await fake.stop()


class Harness:
    """A Connection with its store and the state lines it reported."""

    def __init__(self, tmp_path: Path, address: str, **section: Any) -> None:
        fields = {"address": address, "join_token": "tjt_ok", "reconnect_initial_s": 0.05}
        fields |= {"reconnect_max_s": 0.2, "connect_timeout_s": 2} | section
        self.store = CredentialStore(tmp_path / "state")
        self.store.prepare()
        self.states: list[str] = []
        facts = HostFacts("gpu-7", {"zone": "r4"}, datetime(2024, 1, 2, tzinfo=UTC), "Linux 6.1")
        self.connection = Connection(
            ControlPlaneSection.model_validate(fields),
            self.store,
            facts,
            HostProbe(tmp_path),
            on_state=self.states.append,
        )
        self.task: asyncio.Task[None] = asyncio.create_task(self.connection.run())

    async def stop(self, within_s: float = 3) -> None:
        self.connection.stop()
        async with asyncio.timeout(within_s):
            await self.task


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(address: str, **section: Any) -> Harness:
        made.append(Harness(tmp_path, address, **section))
        return made[-1]

    yield make
    for each in made:
        each.task.cancel()


async def test_join_then_connect_says_hello(
    plane: FakeControlPlane, harness: Callable[..., Harness]
) -> None:
    agent = harness(plane.address)
    hello = await plane.service.next("hello")
    assert hello.seq == 1
    assert hello.hello.host_id == HOST_ID
    assert hello.hello.hostname == "gpu-7"
    assert hello.hello.agent_version == torpor_version()
    assert dict(hello.hello.labels) == {"zone": "r4"}
    assert hello.hello.booted_at.ToDatetime(tzinfo=UTC) == datetime(2024, 1, 2, tzinfo=UTC)
    assert hello.hello.os == "Linux 6.1"
    assert list(hello.hello.gpus) == []
    [join] = plane.service.joins
    assert (join.join_token, join.hostname) == ("tjt_ok", "gpu-7")
    assert join.join_nonce == agent.store.join_nonce()
    assert plane.service.authorizations == [f"Bearer {CREDENTIAL}"]
    assert agent.store.load() == HostCredential(HOST_ID, CREDENTIAL)
    assert stat.S_IMODE(agent.store.credentials_path.stat().st_mode) == 0o600
    await plane.service.next("telemetry")  # Welcome has been taken in
    await agent.stop()
    assert any(state.startswith("connected to") for state in agent.states)


async def test_telemetry_arrives_at_the_server_decided_interval(
    plane: FakeControlPlane, harness: Callable[..., Harness]
) -> None:
    agent = harness(plane.address)
    await plane.service.next("hello")
    arrivals, seqs = [], []
    for _ in range(5):
        message = await plane.service.next("telemetry")
        arrivals.append(time.monotonic())
        seqs.append(message.seq)
        assert message.telemetry.host.memory_total_bytes > 0
        assert message.telemetry.HasField("at")
    assert seqs == [2, 3, 4, 5, 6]
    mean_gap_s = (arrivals[-1] - arrivals[0]) / 4
    assert 0.15 <= mean_gap_s <= 0.4
    await agent.stop()


async def test_ping_is_answered_once_per_id(
    plane: FakeControlPlane, harness: Callable[..., Harness]
) -> None:
    agent = harness(plane.address)
    await plane.service.next("hello")
    for payload in ("first", "second"):  # the same id again: the remembered result
        ping = agent_pb2.Command(id="cmd-1", ping=agent_pb2.Ping(payload=payload))
        await plane.service.outbox.put(agent_pb2.ControlMessage(command=ping))
        result = (await plane.service.next("command_result")).command_result
        assert (result.command_id, result.ok) == ("cmd-1", True)
        assert dict(result.outputs) == {"payload": "first"}
    await agent.stop()


async def test_new_heartbeat_policy_is_adopted_at_once(
    plane: FakeControlPlane, harness: Callable[..., Harness]
) -> None:
    plane.service.policy = agent_pb2.HeartbeatPolicy(interval_ms=60_000, ttl_ms=1, grace_ms=1)
    agent = harness(plane.address)
    await plane.service.next("telemetry")  # the one sent at once after Welcome
    faster = agent_pb2.HeartbeatPolicy(interval_ms=100, ttl_ms=1000, grace_ms=1000)
    await plane.service.outbox.put(agent_pb2.ControlMessage(heartbeat=faster))
    started = time.monotonic()
    for _ in range(3):
        await plane.service.next("telemetry", timeout_s=2)
    assert time.monotonic() - started < 1.5
    await agent.stop()


async def test_reconnects_when_the_control_plane_comes_back(
    plane: FakeControlPlane, harness: Callable[..., Harness]
) -> None:
    agent = harness(plane.address)
    await plane.service.next("hello")
    await plane.stop()
    await asyncio.sleep(0.5)  # a few failed attempts while nothing listens
    await plane.start()  # same service, same port
    hello = await plane.service.next("hello", timeout_s=10)
    assert hello.seq == 1  # a new stream counts from one again
    assert len(plane.service.joins) == 1  # the stored credential is reused, no second join
    assert any(state.startswith("disconnected") for state in agent.states)
    await agent.stop()


async def test_refused_join_token_is_permanent(
    plane: FakeControlPlane, harness: Callable[..., Harness]
) -> None:
    plane.service.join_refusal = "join token not recognised; create a new token"
    agent = harness(plane.address)
    with pytest.raises(PermanentError) as caught:
        await asyncio.wait_for(agent.task, 5)
    message = str(caught.value)
    assert message.startswith("join token refused by the control plane: join token not recog")
    assert "torpor-controlplane tokens create" in message
    assert "\n" not in message
    assert agent.store.load() is None


async def test_refused_credential_is_permanent(
    plane: FakeControlPlane, harness: Callable[..., Harness], tmp_path: Path
) -> None:
    CredentialStore(tmp_path / "state").save(HostCredential(HOST_ID, "thc_h-0001.stale"))
    plane.service.connect_refusal = "credential not recognised"
    agent = harness(plane.address)
    with pytest.raises(PermanentError, match=r"remove \S+credentials\.json and join again"):
        await asyncio.wait_for(agent.task, 5)
    assert plane.service.joins == []  # with a credential present the token is never sent


async def test_no_token_and_no_credential_is_permanent(harness: Callable[..., Harness]) -> None:
    agent = harness("127.0.0.1:1", join_token=None)
    with pytest.raises(PermanentError, match="no join token is configured"):
        await asyncio.wait_for(agent.task, 5)


async def test_stop_says_goodbye_and_half_closes(
    plane: FakeControlPlane, harness: Callable[..., Harness]
) -> None:
    agent = harness(plane.address)
    await plane.service.next("telemetry")
    started = time.monotonic()
    await agent.stop()
    assert time.monotonic() - started < 2.5
    event = (await plane.service.next("event", timeout_s=1)).event
    assert event.kind == "agent.stopping"
    assert event.severity == common_pb2.SEVERITY_INFO
    assert event.host_id == HOST_ID
    assert event.id
    assert event.HasField("at")
    assert plane.service.streams_ended == 1  # the server saw the half-close and ended


async def test_stop_while_unreachable_returns_promptly(harness: Callable[..., Harness]) -> None:
    agent = harness("127.0.0.1:1")
    await asyncio.sleep(0.3)
    await agent.stop(within_s=1)
