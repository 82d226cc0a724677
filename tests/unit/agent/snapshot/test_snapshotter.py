"""The hibernate trigger's final snapshot is a real one, and its progress reaches the stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.trees import make_tree
from torpor.agent.config import AgentConfig
from torpor.agent.idle.trigger import NoSnapshotRepository
from torpor.agent.idle.wiring import default_snapshotter
from torpor.agent.snapshot import operations, snapshotter
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.unit


def test_the_final_snapshot_is_restorable_and_reports_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshotter, "STREAM_INTERVAL_S", 0.01)
    config = AgentConfig.model_validate(
        {
            "agent": {"state_dir": str(tmp_path / "state")},
            "snapshot": {
                "workspace": str(make_tree(tmp_path / "ws")),
                "repository": str(tmp_path / "repo"),
            },
        }
    )
    sent: list[agent_pb2.AgentMessage] = []
    taken = default_snapshotter(config, sent.append).create("hibernate-1")
    snapshot_id = taken.snapshot_id
    assert taken.files == 7 and taken.new_bytes > 0
    info = operations.show(operations.Settings.from_config(config), snapshot_id)
    assert info.manifest.tags == ["hibernate-1"] and info.manifest.stats.files == 7
    progress = [m.event for m in sent if m.event.kind == "snapshot.progress"]
    assert progress and progress[-1].attributes["files"] == "5"  # non-empty, not hard links


def test_without_a_repository_hibernation_is_refused(tmp_path: Path) -> None:
    config = AgentConfig.model_validate({"agent": {"state_dir": str(tmp_path)}})
    refusal = default_snapshotter(config)
    assert isinstance(refusal, NoSnapshotRepository)
    with pytest.raises(RuntimeError, match=r"\[snapshot\] repository"):
        refusal.create("x")
