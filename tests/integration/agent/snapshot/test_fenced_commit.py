"""The fence in the repository: a snapshot commits only while no newer epoch is claimed,
on a local directory and on S3 (moto server)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.s3server import S3Bucket
from torpor.agent.config import AgentConfig
from torpor.agent.fencing.claims import EpochGuard, claim, claim_key, newest_claim
from torpor.agent.snapshot import operations
from torpor.agent.snapshot.placement import SnapshotFenced
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.store.base import ObjectStore
from torpor.agent.snapshot.store.open import open_store

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "s3"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> AgentConfig:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "weights.bin").write_bytes(b"w" * 4096)
    snapshot: dict[str, object] = {"workspace": str(workspace), "threads": 2}
    if request.param == "local":
        snapshot["repository"] = str(tmp_path / "repo")
    else:
        bucket: S3Bucket = request.getfixturevalue("s3_bucket")
        snapshot["repository"] = f"s3://{bucket.name}/instances/i-1"
        snapshot["s3"] = {"endpoint_url": bucket.endpoint_url, "max_attempts": 2}
    return AgentConfig.model_validate(
        {"agent": {"state_dir": str(tmp_path / "state")}, "snapshot": snapshot}
    )


def store_of(config: AgentConfig) -> ObjectStore:
    assert config.snapshot.repository is not None
    return open_store(config.snapshot.repository, s3=config.snapshot.s3)


def snapshot(config: AgentConfig, guard: object) -> str:
    settings = operations.Settings.from_config(config)
    snapshot_id, _ = operations.create(
        settings,
        Progress("snapshot"),
        tags=["t"],
        parent=None,
        keep=False,
        guard=guard,  # type: ignore[arg-type]
    )
    return snapshot_id


def manifests(store: ObjectStore) -> list[str]:
    return [info.key for info in store.list("snapshots/")]


@dataclass(frozen=True)
class OvertakenGuard(EpochGuard):
    """A newer host claims the next epoch while this one writes its manifest."""

    def before_commit(self, store: ObjectStore) -> None:
        super().before_commit(store)
        claim(store, self.instance_id, self.epoch + 1)


def test_commit_claims_the_epoch_and_writes_the_manifest(config: AgentConfig) -> None:
    snapshot_id = snapshot(config, EpochGuard("i-1", 3))
    store = store_of(config)
    assert manifests(store) == [f"snapshots/{snapshot_id}"]
    assert [info.key for info in store.list("fences/")] == [claim_key("i-1", 3)]
    assert claim_key("i-1", 3) == "fences/i-1/00000000000000000003"
    assert newest_claim(store, "i-1") == 3


def test_a_newer_claim_before_the_commit_means_no_manifest(config: AgentConfig) -> None:
    store = store_of(config)
    claim(store, "i-1", 4)
    with pytest.raises(SnapshotFenced, match=r"epoch 4 of instance i-1 .* was not written"):
        snapshot(config, EpochGuard("i-1", 3))
    assert manifests(store) == []


def test_a_claim_during_the_commit_deletes_the_manifest(config: AgentConfig) -> None:
    with pytest.raises(SnapshotFenced, match="deleted again"):
        snapshot(config, OvertakenGuard("i-1", 3))
    store = store_of(config)
    assert manifests(store) == []
    assert newest_claim(store, "i-1") == 4


def test_fenced_here_refuses_before_writing(config: AgentConfig) -> None:
    with pytest.raises(SnapshotFenced, match="this host is fenced"):
        snapshot(config, EpochGuard("i-1", 3, lambda: "this host is fenced"))
    assert manifests(store_of(config)) == []


def test_claims_of_other_instances_do_not_count(config: AgentConfig) -> None:
    store = store_of(config)
    claim(store, "i-2", 9)
    claim(store, "i-1", 2)
    claim(store, "i-1", 2)  # claiming again is a no-op
    assert snapshot(config, EpochGuard("i-1", 2))
    assert newest_claim(store, "i-1") == 2


def test_without_a_guard_nothing_changes(config: AgentConfig) -> None:
    snapshot(config, None)
    store = store_of(config)
    assert len(manifests(store)) == 1
    assert list(store.list("fences/")) == []
