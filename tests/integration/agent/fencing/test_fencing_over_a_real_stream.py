"""Fencing over a real stream: a real agent process, the fake control plane's socket."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.agent.fake_control_plane import FakeControlPlane
from tests.support.processes import Agent
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.integration


def snapshot_config(tmp_path: Path) -> str:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    return (
        f'\n[snapshot]\nworkspace = "{workspace}"\nrepository = "{tmp_path / "repo"}"\n'
        "[gpu]\nenabled = false\n"
    )


@pytest.fixture
def agent(tmp_path: Path, plane: FakeControlPlane) -> Iterator[Agent]:
    agent = Agent("gpu-f", tmp_path / "agent", plane.address, "tjt_ok")
    agent.extra_config = snapshot_config(tmp_path)
    yield agent
    if agent.process is not None:
        agent.stop()


async def command(
    plane: FakeControlPlane, message: agent_pb2.Command, timeout_s: float = 10
) -> agent_pb2.CommandResult:
    """Sends `message` and waits for its result (skipping other messages)."""
    await plane.service.outbox.put(agent_pb2.ControlMessage(command=message))
    async with asyncio.timeout(timeout_s):
        while True:
            result = (await plane.service.next("command_result", timeout_s)).command_result
            if result.command_id == message.id:
                return result


def assign(command_id: str, epoch: int, **extra: object) -> agent_pb2.Command:
    held = agent_pb2.Assignment(instance_id="i-1", epoch=epoch, **extra)  # type: ignore[arg-type]
    return agent_pb2.Command(id=command_id, assign=agent_pb2.Assign(assignment=held))


async def test_assign_then_a_stale_epoch_is_refused_and_hello_restates_it(
    plane: FakeControlPlane, agent: Agent
) -> None:
    agent.start()
    hello = await plane.service.next("hello", timeout_s=15)
    assert not hello.hello.HasField("assignment")
    assert (await command(plane, assign("a-1", 2))).ok
    stale = agent_pb2.Command(id="s-1", epoch=1, take_snapshot=agent_pb2.TakeSnapshot())
    result = await command(plane, stale)
    assert (result.ok, result.fenced) == (False, True)
    assert "command epoch 1 is older than the held epoch 2" in result.error
    ping = agent_pb2.Command(id="p-1", ping=agent_pb2.Ping(payload="x"))
    assert (await command(plane, ping)).ok
    await asyncio.to_thread(agent.stop)
    agent.start()
    hello = await plane.service.next("hello", timeout_s=15)
    assert hello.hello.assignment == agent_pb2.Assignment(instance_id="i-1", epoch=2)


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A user's process working in the workspace (its cwd is there)."""
    process = subprocess.Popen(["sleep", "300"], cwd=tmp_path / "workspace")
    yield process
    process.kill()
    process.wait()


async def test_self_fences_after_losing_the_control_plane(
    plane: FakeControlPlane, agent: Agent, worker: subprocess.Popen[bytes]
) -> None:
    agent.start()
    await plane.service.next("hello", timeout_s=15)
    assert (await command(plane, assign("a-1", 2, fence_after_ms=300))).ok
    await plane.stop()
    assert await asyncio.to_thread(worker.wait, 15) == -signal.SIGTERM
    await plane.start()  # the same port: the agent comes back
    event = (await plane.service.next("event", timeout_s=15)).event
    assert (event.kind, event.attributes["epoch"]) == ("instance.fenced", "2")
    take = agent_pb2.Command(id="t-1", epoch=2, take_snapshot=agent_pb2.TakeSnapshot())
    result = await command(plane, take)
    assert result.fenced and "fenced for i-1 at epoch 2" in result.error
    assert (await command(plane, assign("a-2", 3))).ok  # a higher epoch lifts it
    take = agent_pb2.Command(id="t-2", epoch=3, take_snapshot=agent_pb2.TakeSnapshot())
    assert (await command(plane, take, timeout_s=30)).ok
    assert agent.log().count("FENCED: instance i-1 epoch 2") == 1


async def test_a_preemption_file_reaches_the_control_plane(
    plane: FakeControlPlane, agent: Agent, tmp_path: Path
) -> None:
    notice_file = tmp_path / "preempted"
    agent.extra_config += f'[preemption]\nsource = "file"\npath = "{notice_file}"\npoll_s = 0.1\n'
    agent.start()
    await plane.service.next("hello", timeout_s=15)
    notice_file.write_text("2099-01-01T00:00:00Z")
    notice = (await plane.service.next("preemption_notice", timeout_s=10)).preemption_notice
    assert (notice.source, notice.deadline.seconds) == ("file", 4070908800)
