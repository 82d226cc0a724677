"""TakeSnapshot and Restore from the real control plane to real `torpor-agent run` processes.

What a wake relies on: a snapshot taken on one host restores byte for byte into another
host's empty workspace through the control plane's command path; a workspace that holds
files is never overwritten; a command resent with the same id runs once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.controlplane import control_plane, disconnected, fast_settings
from tests.support.processes import Agent
from tests.support.trees import describe, make_tree
from torpor.agent.config import AgentConfig
from torpor.agent.snapshot import operations
from torpor.controlplane.fleet.schemas import Command, Restore, TakeSnapshot
from torpor.controlplane.runtime import ControlPlane
from torpor.controlplane.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["control_plane"]

COMMAND_TIMEOUT_S = 60.0
SNAPSHOT_CONFIG = """
[snapshot]
workspace = "{workspace}"
repository = "{repository}"

[gpu]
enabled = false
"""

STARTED: list[tuple[Agent, str]] = []  # killed by the `plane` fixture


async def start_agent(plane: ControlPlane, home: Path, workspace: Path, repository: Path) -> str:
    """A real agent process with `[snapshot]` set; returns its host id once connected."""
    token = await plane.services.join_tokens.create(600, note=home.name)
    agent = Agent(
        home.name,
        home,
        f"127.0.0.1:{plane.grpc_port}",
        token,
        extra_config=SNAPSHOT_CONFIG.format(workspace=workspace, repository=repository),
    )
    agent.start()
    STARTED.append((agent, ""))
    for _ in range(300):
        page = await plane.services.hosts.list()
        found = [h.id for h in page.items if h.hostname == home.name]
        if found and plane.services.hub.is_connected(found[0]):
            STARTED[-1] = (agent, found[0])
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"agent {home.name} did not connect:\n{agent.log()}")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """A heartbeat that survives a loaded machine: these tests snapshot and restore and
    never wait for a host to be lost (the usual 0.3 + 0.3 s once lost an agent mid-restore)."""
    return fast_settings(
        tmp_path, database_url, heartbeat_interval_s=0.5, heartbeat_ttl_s=3, heartbeat_grace_s=3
    )


@pytest.fixture
async def plane(control_plane: ControlPlane) -> AsyncIterator[ControlPlane]:
    """The control plane; the agents a test started are stopped before it."""
    yield control_plane
    while STARTED:
        agent, host_id = STARTED.pop()
        if agent.process is not None:
            agent.stop(signal.SIGKILL)
        if host_id:
            await disconnected(control_plane.services, host_id)


def snapshot_count(workspace: Path, repository: Path, state: Path) -> int:
    config = AgentConfig.model_validate(
        {
            "agent": {"state_dir": str(state)},
            "snapshot": {"workspace": str(workspace), "repository": str(repository)},
        }
    )
    return len(operations.list_snapshots(operations.Settings.from_config(config)))


async def test_a_snapshot_taken_on_one_host_restores_byte_for_byte_on_another(
    plane: ControlPlane, tmp_path: Path
) -> None:
    repository = tmp_path / "repo"
    source = make_tree(tmp_path / "source")
    fresh = tmp_path / "fresh"  # does not exist yet: the restore creates it
    hub = plane.services.hub
    old_host = await start_agent(plane, tmp_path / "old-host", source, repository)
    new_host = await start_agent(plane, tmp_path / "new-host", fresh, repository)

    taken = await hub.send_command(
        old_host, Command(TakeSnapshot("before-wake", keep_forever=True)), COMMAND_TIMEOUT_S
    )
    assert taken.ok, taken.error
    assert len(taken.snapshot_id) == 64
    assert int(taken.outputs["files"]) == 7 and int(taken.outputs["new_bytes"]) > 0

    restored = await hub.send_command(
        new_host, Command(Restore(taken.snapshot_id[:12])), COMMAND_TIMEOUT_S
    )
    assert restored.ok, restored.error
    assert restored.snapshot_id == taken.snapshot_id
    assert int(restored.outputs["files"]) > 0 and int(restored.outputs["bytes"]) > 0
    assert describe(fresh) == describe(source)

    info = operations.show(
        operations.Settings.from_config(
            AgentConfig.model_validate(
                {
                    "agent": {"state_dir": str(tmp_path / "s")},
                    "snapshot": {"repository": str(repository)},
                }
            )
        ),
        taken.snapshot_id,
    )
    assert info.pinned and info.manifest.tags == ["before-wake"]


async def test_a_restore_never_overwrites_a_workspace_that_holds_files(
    plane: ControlPlane, tmp_path: Path
) -> None:
    repository = tmp_path / "repo"
    workspace = make_tree(tmp_path / "work")
    host = await start_agent(plane, tmp_path / "host", workspace, repository)
    hub = plane.services.hub
    taken = await hub.send_command(host, Command(TakeSnapshot()), COMMAND_TIMEOUT_S)
    assert taken.ok, taken.error
    (workspace / "a" / "notes.txt").write_text("work done after the snapshot\n")
    before = describe(workspace)

    refused = await hub.send_command(host, Command(Restore(taken.snapshot_id)), COMMAND_TIMEOUT_S)
    assert not refused.ok
    assert "not empty" in refused.error and "\n" not in refused.error
    assert describe(workspace) == before

    unknown = await hub.send_command(host, Command(Restore("f" * 12)), COMMAND_TIMEOUT_S)
    assert not unknown.ok and unknown.error


async def test_a_command_resent_with_the_same_id_runs_once(
    plane: ControlPlane, tmp_path: Path
) -> None:
    repository, workspace = tmp_path / "repo", make_tree(tmp_path / "work")
    host = await start_agent(plane, tmp_path / "host", workspace, repository)
    hub = plane.services.hub
    command = Command(TakeSnapshot("once"))

    # twice at once (the second shares the first's wait) and once more after it answered
    first, second = await asyncio.gather(
        hub.send_command(host, command, COMMAND_TIMEOUT_S),
        hub.send_command(host, command, COMMAND_TIMEOUT_S),
    )
    third = await hub.send_command(host, command, COMMAND_TIMEOUT_S)
    assert first.ok, first.error
    assert first.snapshot_id == second.snapshot_id == third.snapshot_id
    assert snapshot_count(workspace, repository, tmp_path / "state") == 1
