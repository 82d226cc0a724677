"""FencingAgent with real parts: a local repository, real processes, an injected clock."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.idle import ManualClock
from torpor.agent.config import AgentConfig
from torpor.agent.fencing.assignment import AssignmentStore
from torpor.agent.fencing.claims import claim_key
from torpor.agent.fencing.wiring import FencingAgent
from torpor.agent.outbox import Outbox
from torpor.agent.snapshot.snapshotter import EngineSnapshotter
from torpor.agent.snapshot.store.local import LocalStore
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path) -> AgentConfig:
    (tmp_path / "workspace").mkdir()
    return AgentConfig.model_validate(
        {
            "agent": {"state_dir": str(tmp_path / "state")},
            "snapshot": {
                "workspace": str(tmp_path / "workspace"),
                "repository": str(tmp_path / "repo"),
            },
            "fencing": {
                "term_grace_s": 1,
                "hooks": [f"touch {tmp_path / 'hook-ran'}"],
            },
        }
    )


@pytest.fixture
def sleeper(config: AgentConfig) -> Iterator[subprocess.Popen[bytes]]:
    """A process working in the workspace (its cwd is there)."""
    process = subprocess.Popen(["sleep", "300"], cwd=config.snapshot.workspace)
    yield process
    process.kill()
    process.wait()


def agent(config: AgentConfig, clock: ManualClock, outbox: Outbox) -> FencingAgent:
    return FencingAgent(config, AssignmentStore(config.state_dir()), outbox, clock)


def assign(epoch: int, **extra: object) -> agent_pb2.Command:
    held = agent_pb2.Assignment(instance_id="i-1", epoch=epoch, **extra)  # type: ignore[arg-type]
    return agent_pb2.Command(id=f"a-{epoch}", assign=agent_pb2.Assign(assignment=held))


async def test_assign_claims_the_epoch_in_the_assigned_repository(
    config: AgentConfig, tmp_path: Path
) -> None:
    fencing = agent(config, ManualClock(), Outbox())
    other = tmp_path / "instance-repo"
    assert (await fencing.assign(assign(5, repository=str(other)))).ok
    assert LocalStore(other).size(claim_key("i-1", 5)) > 0
    assert fencing.repository() == str(other)


async def test_assign_says_when_the_claim_failed(config: AgentConfig) -> None:
    fencing = agent(config, ManualClock(), Outbox())
    result = await fencing.assign(assign(1, repository="ftp://nowhere"))
    assert not result.ok and "kept, but claiming the epoch failed" in result.error
    assert fencing.guard.held is not None and fencing.guard.held.epoch == 1


async def test_fence_ends_the_workspace_processes_runs_hooks_and_tells(
    config: AgentConfig, sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    outbox = Outbox()
    fencing = agent(config, ManualClock(), outbox)
    await fencing.assign(assign(1))
    fence = agent_pb2.Command(id="f", fence=agent_pb2.Fence(reason="failed over", epoch=2))
    assert (await fencing.fence_command(fence)).ok
    sleeper.wait(timeout=5)  # psutil may have reaped it already (it is our child here)
    assert not psutil.pid_exists(sleeper.pid)
    assert (tmp_path / "hook-ran").exists()
    event = (await outbox.get()).event
    assert (event.kind, event.attributes["epoch"], event.attributes["reason"]) == (
        "instance.fenced",
        "1",
        "failed over",
    )
    assert fencing.commit_guard() is not None
    assert fencing.guard.admit(agent_pb2.Command(take_snapshot=agent_pb2.TakeSnapshot()))


async def test_a_stale_fence_is_ignored(config: AgentConfig) -> None:
    fencing = agent(config, ManualClock(), Outbox())
    await fencing.assign(assign(3))
    stale = agent_pb2.Command(id="f", fence=agent_pb2.Fence(reason="old news", epoch=3))
    result = await fencing.fence_command(stale)
    assert not result.ok and "not newer than the held epoch 3" in result.error
    assert fencing.guard.held is not None and not fencing.guard.held.fenced


async def test_self_fences_after_the_bound_without_a_stream(
    config: AgentConfig, sleeper: subprocess.Popen[bytes]
) -> None:
    clock = ManualClock()
    clock.real_pause_s = 0.001
    outbox = Outbox()
    fencing = agent(config, clock, outbox)
    await fencing.assign(assign(1, fence_after_ms=60_000))
    fencing.on_link(True)
    fencing.on_link(False)
    watch = asyncio.create_task(fencing.run())
    try:
        event = (await asyncio.wait_for(outbox.get(), timeout=10)).event
    finally:
        watch.cancel()
    assert event.kind == "instance.fenced" and "no control plane for 60 s" in event.message
    assert sleeper.poll() is not None


async def test_snapshots_go_to_the_assigned_repository_and_restore_may_name_one(
    config: AgentConfig, tmp_path: Path
) -> None:
    fencing = agent(config, ManualClock(), Outbox())
    assigned = tmp_path / "instance-repo"
    await fencing.assign(assign(2, repository=str(assigned)))
    assert config.snapshot.workspace is not None
    (config.snapshot.workspace / "notes.txt").write_text("mine")
    taken = EngineSnapshotter(config, placement=fencing).take(["t"], keep=False)
    assert [i.key for i in LocalStore(assigned).list("snapshots/")] == [
        f"snapshots/{taken.snapshot_id}"
    ]
    assert not (tmp_path / "repo" / "snapshots").exists()  # the configured one is untouched
    fresh = config.model_copy(
        update={"snapshot": config.snapshot.model_copy(update={"workspace": tmp_path / "new"})}
    )
    restored = EngineSnapshotter(fresh).restore(taken.snapshot_id, repository=str(assigned))
    assert restored.snapshot_id == taken.snapshot_id
    assert (tmp_path / "new" / "notes.txt").read_text() == "mine"
