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
from torpor.agent.snapshot.tenancy import CacheTenancy
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


async def test_a_claimed_standby_keeps_only_its_instances_cache_and_prefetches_no_more(
    tmp_path: Path,
) -> None:
    """Prefetches land in each instance's partition; the restore after the claim (the
    tenant is the assigned instance) finds only that one, and others' prefetches are
    refused from then on."""
    repos = {name: tmp_path / f"repo-{name}" for name in ("i-x", "i-y")}
    ids = {}
    for name, repo in repos.items():
        source = make_tree(tmp_path / f"src-{name}")
        settings = operations.Settings.from_config(
            config_of(tmp_path, name, repo), workspace=source
        )
        ids[name], _ = operations.create(settings, Progress("s"), tags=[], parent=None, keep=False)
    standby = config_of(tmp_path, "standby", tmp_path / "own")
    tenancy = CacheTenancy(standby.state_dir() / "cache")
    commands = SnapshotCommands(EngineSnapshotter(standby, tenancy=tenancy))

    def order(name: str) -> agent_pb2.Command:
        prefetch = agent_pb2.Prefetch(
            repository=str(repos[name]), snapshot_ids=[ids[name]], instance_id=name
        )
        return agent_pb2.Command(prefetch=prefetch)

    for name in repos:
        assert (await commands.prefetch(order(name))).ok
    held = standby.state_dir() / "cache" / "instances"
    assert sorted(p.name for p in held.iterdir()) == ["i-x", "i-y"]
    tenancy.claim("i-y", sweep=False)  # what the Assign does; the restore finishes it
    restored = await commands.restore(
        agent_pb2.Command(
            restore=agent_pb2.Restore(snapshot_id=ids["i-y"], repository=str(repos["i-y"]))
        )
    )
    assert restored.ok, restored.error
    assert [p.name for p in held.iterdir()] == ["i-y"]
    refused = await commands.prefetch(order("i-x"))
    assert not refused.ok and "serves instance i-y" in refused.error
    assert [p.name for p in held.iterdir()] == ["i-y"]
