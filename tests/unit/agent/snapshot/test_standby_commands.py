"""A standby host's commands: Prefetch another instance's repository into the chunk cache,
Restore from it (Restore.repository), and snapshot there afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.trees import describe, make_tree
from torpor.agent.config import AgentConfig
from torpor.agent.snapshot import operations
from torpor.agent.snapshot.commands import SnapshotCommands
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.snapshotter import EngineSnapshotter
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.unit


def config_of(tmp_path: Path, name: str, repository: Path) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "agent": {"state_dir": str(tmp_path / name / "state")},
            "snapshot": {
                "workspace": str(tmp_path / name / "ws"),
                "repository": str(repository),
            },
        }
    )


async def test_a_standby_prefetches_restores_and_then_snapshots_the_instances_repository(
    tmp_path: Path,
) -> None:
    instance_repo, own_repo = tmp_path / "instance-repo", tmp_path / "standby-repo"
    source = make_tree(tmp_path / "source")
    primary = config_of(tmp_path, "primary", instance_repo)
    first, _ = operations.create(
        operations.Settings.from_config(primary, workspace=source),
        Progress("snapshot"),
        tags=["a"],
        parent=None,
        keep=False,
    )
    commands = SnapshotCommands(EngineSnapshotter(config_of(tmp_path, "standby", own_repo)))
    url = str(instance_repo)

    fetched = await commands.prefetch(
        agent_pb2.Command(prefetch=agent_pb2.Prefetch(repository=url, snapshot_ids=[first]))
    )
    assert fetched.ok, fetched.error
    assert int(fetched.outputs["chunks"]) > 0 and fetched.outputs["snapshot_ids"] == first
    restored = await commands.restore(
        agent_pb2.Command(restore=agent_pb2.Restore(snapshot_id=first, repository=url))
    )
    assert restored.ok, restored.error
    assert describe(tmp_path / "standby" / "ws") == describe(source)

    taken = await commands.take_snapshot(agent_pb2.Command(take_snapshot=agent_pb2.TakeSnapshot()))
    assert taken.ok, taken.error
    ids = {i.id for i in operations.list_snapshots(operations.Settings.from_config(primary))}
    assert taken.snapshot_id in ids  # into the instance's repository, not the standby's own
    assert not own_repo.exists()


async def test_prefetch_without_ids_or_of_an_unknown_snapshot_is_refused(tmp_path: Path) -> None:
    commands = SnapshotCommands(EngineSnapshotter(config_of(tmp_path, "s", tmp_path / "none")))
    empty = await commands.prefetch(agent_pb2.Command(prefetch=agent_pb2.Prefetch()))
    assert not empty.ok and "snapshot_ids" in empty.error
    unknown = await commands.prefetch(
        agent_pb2.Command(prefetch=agent_pb2.Prefetch(snapshot_ids=["abc"]))
    )
    assert not unknown.ok and "prefetch failed" in unknown.error
