"""Idle → IdleReport → the control plane says Hibernate → the result carries the snapshot id.

The agent's real Connection, IdleAgent and trigger run in-process against the fake control
plane on a real socket; only the GPUs, host counters and time are scripted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.agent.fake_control_plane import FakeAgentService, FakeControlPlane
from tests.support.idle import Rig
from torpor.agent.commands import CommandDispatcher
from torpor.agent.config import AgentConfig
from torpor.agent.connection import Connection
from torpor.agent.identity import CredentialStore
from torpor.agent.idle.wiring import IdleAgent
from torpor.agent.snapshot.engine import Taken
from torpor.agent.stream import HostFacts
from torpor.agent.telemetry.host import HostProbe
from torpor.common.timestamps import utc_now
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.integration

POLICY = agent_pb2.HeartbeatPolicy(interval_ms=200, ttl_ms=1000, grace_ms=1000)


class Recorder:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.warned = asyncio.Event()

    def notify(self, message: str) -> None:
        self.messages.append(message)
        self.warned.set()


class TestSnapshotter:
    __test__ = False

    def create(self, tag: str) -> Taken:
        return Taken(f"snap-{tag}", files=2, bytes=20, new_bytes=10)


@pytest.fixture
async def plane() -> AsyncIterator[FakeControlPlane]:
    service = FakeAgentService(policy=POLICY)
    service.idle_policy = agent_pb2.IdlePolicyOverride(window_s=20)  # the instance's window
    fake = FakeControlPlane(service)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def agent(tmp_path: Path, plane: FakeControlPlane) -> AsyncIterator[tuple[Rig, Recorder]]:
    rig = Rig(tmp_path)
    rig.clock.real_pause_s = 0.005  # manual time, but the event loop gets its turns
    config = AgentConfig.model_validate(
        {
            "agent": {"name": "gpu-7", "state_dir": str(rig.state_dir)},
            "control_plane": {"address": plane.address, "join_token": "tjt_ok"},
            "idle": {"window_s": 900, "poll_interval_s": 1, "grace_s": 30},
        }
    )
    recorder = Recorder()
    idle = IdleAgent(config, rig.sources, TestSnapshotter(), rig.clock, recorder)
    rig.monitor = idle.monitor
    dispatcher = CommandDispatcher(
        handlers={"set_idle_policy": idle.set_idle_policy},
        long_handlers={"hibernate": idle.hibernate},
        outbox=idle.outbox,
    )
    assert config.control_plane is not None
    connection = Connection(
        config.control_plane,
        _store(rig.state_dir),
        HostFacts("gpu-7", {}, utc_now(), "Linux"),
        HostProbe(tmp_path),
        dispatcher=dispatcher,
        outbox=idle.outbox,
        on_welcome=idle.on_welcome,
    )
    tasks = [asyncio.create_task(idle.run()), asyncio.create_task(connection.run())]
    yield rig, recorder
    connection.stop()
    dispatcher.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _store(state_dir: Path) -> CredentialStore:
    store = CredentialStore(state_dir)
    store.prepare()
    return store


def hibernate(command_id: str, grace_s: int) -> agent_pb2.ControlMessage:
    order = agent_pb2.Hibernate(reason="idle for 20s", grace_s=grace_s)
    return agent_pb2.ControlMessage(command=agent_pb2.Command(id=command_id, hibernate=order))


async def test_idle_report_then_hibernate_returns_the_snapshot_id(
    plane: FakeControlPlane, agent: tuple[Rig, Recorder]
) -> None:
    _, recorder = agent
    report = (await plane.service.next("idle_report", timeout_s=20)).idle_report
    assert report.idle
    assert report.window_s == 20  # the Welcome's override, not the config's 900
    verdicts = {s.name: s.verdict for s in report.signals}
    assert verdicts["gpu0.utilisation"] == agent_pb2.SIGNAL_VERDICT_IDLE
    assert all(s.idle_for_s >= 20 for s in report.signals)
    await plane.service.outbox.put(hibernate("c-hib", grace_s=5))
    result = (await plane.service.next("command_result", timeout_s=20)).command_result
    assert (result.command_id, result.ok, result.error) == ("c-hib", True, "")
    assert result.snapshot_id.startswith("snap-hibernate-")
    assert result.outputs["files"] == "2" and result.outputs["new_bytes"] == "10"
    assert "hibernates in 5s (idle for 20s)" in recorder.messages[0]


async def test_an_inhibitor_in_the_grace_period_cancels(
    plane: FakeControlPlane, agent: tuple[Rig, Recorder]
) -> None:
    rig, recorder = agent
    await plane.service.next("idle_report", timeout_s=20)
    await plane.service.outbox.put(hibernate("c-hib", grace_s=600))
    async with asyncio.timeout(10):
        await recorder.warned.wait()
    rig.sources.inhibitors.add("long eval", 7200, rig.clock.wall(), who="ana")
    seen: dict[str, agent_pb2.AgentMessage] = {}
    async with asyncio.timeout(20):  # the two may come in either order
        while {"command_result", "idle_report"} - seen.keys():
            message = await plane.service.received.get()
            seen[message.WhichOneof("payload") or ""] = message
    result = seen["command_result"].command_result
    assert not result.ok
    assert "cancelled during the grace period" in result.error
    assert "long eval" in result.error
    assert result.snapshot_id == ""
    assert not seen["idle_report"].idle_report.idle  # the control plane hears it is busy again


async def test_set_idle_policy_is_applied_and_a_bad_one_refused(
    plane: FakeControlPlane, agent: tuple[Rig, Recorder]
) -> None:
    rig, _ = agent
    for command_id, threshold in (("c-ok", 20.0), ("c-bad", 400.0)):
        policy = agent_pb2.SetIdlePolicy(
            policy=agent_pb2.IdlePolicyOverride(gpu_util_threshold_percent=threshold)
        )
        command = agent_pb2.Command(id=command_id, set_idle_policy=policy)
        await plane.service.outbox.put(agent_pb2.ControlMessage(command=command))
        result = (await plane.service.next("command_result")).command_result
        assert result.command_id == command_id
        assert result.ok is (command_id == "c-ok")
    assert "gpu_util_threshold_percent" in result.error
    assert rig.monitor.settings.gpu_util_threshold_percent == 20.0
