"""The local provider forgets snapshots through `torpor-agent snapshot` (a real process on a
real repository): pinned ones are unpinned first, unknown ids skipped, data pruned."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from torpor.controlplane.providers.local import snapshots

pytestmark = pytest.mark.integration
AGENT = Path(sys.executable).parent / "torpor-agent"


def create(repository: Path, workspace: Path, *extra: str) -> str:
    where = ["--repository", str(repository), "--workspace", str(workspace)]
    out = subprocess.run(
        [str(AGENT), "snapshot", *where, "create", "--json", *extra],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return str(json.loads(out)["id"])


async def test_forget_unpins_skips_unknown_and_prunes(tmp_path: Path) -> None:
    workspace, repository = tmp_path / "workspace", tmp_path / "repository"
    workspace.mkdir()
    (workspace / "a.txt").write_text("one")
    first = create(repository, workspace, "--keep-forever")
    (workspace / "b.txt").write_text("two")
    second = create(repository, workspace)
    third = create(repository, workspace)

    await snapshots.forget(AGENT, repository, [first, second, "f" * 64])

    left = [s["id"] for s in await snapshots.listed(AGENT, repository)]
    assert left == [third]
    await snapshots.forget(AGENT, repository, [first])  # already gone: nothing to do
    assert await snapshots.listed(AGENT, tmp_path / "missing") == []
    snapshots.delete_repository(repository)
    assert not repository.exists()
