"""A restore into the workspace: only an empty one, and a failure leaves it empty again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.trees import describe, make_tree
from torpor.agent.config import AgentConfig
from torpor.agent.snapshot.errors import IntegrityError, WorkspaceError
from torpor.agent.snapshot.into_workspace import STAGING
from torpor.agent.snapshot.snapshotter import EngineSnapshotter

pytestmark = pytest.mark.unit


def engine(tmp_path: Path, workspace: Path) -> EngineSnapshotter:
    config = AgentConfig.model_validate(
        {
            "agent": {"state_dir": str(tmp_path / "state")},
            "snapshot": {"workspace": str(workspace), "repository": str(tmp_path / "repo")},
        }
    )
    return EngineSnapshotter(config)


def test_restore_fills_an_empty_workspace_and_clears_a_crashed_staging_folder(
    tmp_path: Path,
) -> None:
    source = make_tree(tmp_path / "source")
    taken = engine(tmp_path, source).take(["manual"], keep=False)
    target = tmp_path / "target"
    (target / STAGING / "half").mkdir(parents=True)  # a restore the agent did not finish
    restored = engine(tmp_path, target).restore(taken.snapshot_id[:10])
    assert restored.snapshot_id == taken.snapshot_id
    assert describe(target) == describe(source)


def test_restore_refuses_a_workspace_that_holds_files(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "source")
    taken = engine(tmp_path, source).take(["manual"], keep=False)
    with pytest.raises(WorkspaceError, match="not empty"):
        engine(tmp_path, source).restore(taken.snapshot_id)


def test_a_failed_restore_leaves_the_workspace_empty_for_a_retry(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "source")
    taken = engine(tmp_path, source).take(["manual"], keep=False)
    for pack in (tmp_path / "repo" / "data").rglob("*"):
        if pack.is_file():
            pack.unlink()
    target = tmp_path / "target"
    with pytest.raises(IntegrityError, match="missing"):
        engine(tmp_path, target).restore(taken.snapshot_id)
    assert list(target.iterdir()) == []
