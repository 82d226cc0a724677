from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from torpor.agent.config import AgentConfig
from torpor.agent.snapshot import operations
from torpor.agent.snapshot.codec import Compression
from torpor.agent.snapshot.create import CreateOptions, SnapshotCreator
from torpor.agent.snapshot.format import Manifest
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.repository import Repository
from torpor.agent.snapshot.store.memory import MemoryStore

Create = Callable[..., tuple[str, Manifest]]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def create(store: MemoryStore) -> Create:
    """Runs one `create` of a workspace into `store` (small packs, so there are several)."""

    def run(workspace: Path, **options: object) -> tuple[str, Manifest]:
        repository = Repository.open_or_init(store)
        settings = CreateOptions(
            workspace=workspace,
            compression=Compression.parse(str(options.pop("compression", "zstd:3"))),
            pack_size_bytes=int(options.pop("pack_size_bytes", 1024 * 1024)),  # type: ignore[call-overload]
            threads=4,
            **options,  # type: ignore[arg-type]
        )
        return SnapshotCreator(repository, settings, Progress("create")).run()

    return run


def settings(tmp_path: Path, workspace: Path) -> operations.Settings:
    """The CLI's settings for a local repository under `tmp_path` (1 MiB packs)."""
    config = AgentConfig.model_validate(
        {
            "agent": {"state_dir": str(tmp_path / "state")},
            "snapshot": {
                "workspace": str(workspace),
                "repository": str(tmp_path / "repo"),
                "pack_size_mib": 1,
            },
        }
    )
    return operations.Settings.from_config(config)
