"""Which epoch wrote each snapshot, and the CLI under the same fence as the daemon.

A manifest written under a placement's guard records its epoch (`snapshot list` shows it);
one written without (no assignment, older torpor) has none and still decodes. On a host
that holds an assignment, `torpor-agent snapshot create` into that assignment's repository
commits only as the daemon would: a fenced host, or one whose epoch a newer placement
claimed, writes no manifest — so nothing stale can become the newest snapshot.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from tests.support.trees import make_tree
from torpor.agent.config import AgentConfig
from torpor.agent.fencing.assignment import AssignmentStore, HeldAssignment
from torpor.agent.fencing.claims import EpochGuard, claim, claim_key
from torpor.agent.snapshot import operations
from torpor.agent.snapshot.decoding import decode_manifest
from torpor.agent.snapshot.format import Manifest, SnapshotStats, encode_metadata
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.store.local import LocalStore

pytestmark = pytest.mark.integration
AGENT = str(Path(sys.executable).parent / "torpor-agent")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    make_tree(tmp_path / "workspace")
    (tmp_path / "agent.toml").write_text(
        f'[agent]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[snapshot]\nworkspace = "{tmp_path / "workspace"}"\n'
        f'repository = "{tmp_path / "repo"}"\nthreads = 2\n'
    )
    return tmp_path


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [AGENT, "snapshot", "--config", str(home / "agent.toml"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def hold(home: Path, epoch: int, *, fenced: bool = False, repository: str = "") -> None:
    held = HeldAssignment("i-1", epoch, repository=repository or str(home / "repo"))
    if fenced:
        held = held.fence("no control plane for 61 s (fence_after_ms=60000)")
    (home / "state").mkdir(exist_ok=True)
    AssignmentStore(home / "state").save(held)


def listed(home: Path) -> list[dict[str, object]]:
    result = cli(home, "list", "--json")
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def manifests(home: Path) -> list[str]:
    return [info.key for info in LocalStore(home / "repo").list("snapshots/")]


def test_a_guarded_snapshot_records_its_epoch(home: Path) -> None:
    config = AgentConfig.model_validate_json(
        json.dumps(
            {"snapshot": {"workspace": str(home / "workspace"), "repository": str(home / "repo")}}
        )
    )
    settings = operations.Settings.from_config(config)
    _, manifest = operations.create(
        settings, Progress("t"), tags=[], parent=None, keep=False, guard=EpochGuard("i-1", 4)
    )
    assert manifest.epoch == 4
    assert [row["epoch"] for row in listed(home)] == [4]


def test_a_manifest_without_an_epoch_still_decodes() -> None:
    """What torpor wrote before the field existed: the same map, without the key."""
    old = Manifest(1, "2026-01-01T00:00:00+00:00", "h", "/w", [], None, SnapshotStats(), [])
    encoded = msgspec.msgpack.encode(old)
    assert b"epoch" not in encoded  # left out when None: unassigned manifests as before
    assert decode_manifest(encode_metadata(old, 1 << 20, "manifest")).epoch is None


def test_the_cli_on_a_fenced_host_writes_no_manifest(home: Path) -> None:
    hold(home, 2, fenced=True)
    result = cli(home, "create")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "fenced" in result.stderr and "was not written" in result.stderr
    assert manifests(home) == []


def test_the_cli_below_a_newer_claim_writes_no_manifest(home: Path) -> None:
    hold(home, 2)
    claim(LocalStore(home / "repo"), "i-1", 3)  # a newer placement took the repository
    result = cli(home, "create")
    assert result.returncode == 1 and "epoch 3 of instance i-1 claimed" in result.stderr
    assert manifests(home) == []


def test_the_cli_of_an_assigned_host_commits_as_the_daemon_does(home: Path) -> None:
    hold(home, 2)
    assert cli(home, "create").returncode == 0
    assert [row["epoch"] for row in listed(home)] == [2]
    assert LocalStore(home / "repo").size(claim_key("i-1", 2)) > 0  # it claimed its epoch
    table = cli(home, "list").stdout.splitlines()
    assert "EPOCH" in table[0] and "  2  " in table[1]


def test_the_cli_into_another_repository_is_not_fenced(home: Path, tmp_path: Path) -> None:
    hold(home, 2, fenced=True, repository=str(tmp_path / "the-instances-repo"))
    assert cli(home, "create").returncode == 0  # a snapshot of something else
    assert [row["epoch"] for row in listed(home)] == [None]
