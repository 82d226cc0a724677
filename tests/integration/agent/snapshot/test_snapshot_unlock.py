"""`torpor-agent snapshot unlock [--all]` as an operator runs it on a local repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from tests.support.trees import make_tree
from torpor.agent.snapshot import holders
from torpor.agent.snapshot.locks import LockRecord
from torpor.common.timestamps import utc_now

pytestmark = pytest.mark.integration

AGENT = str(Path(sys.executable).parent / "torpor-agent")


def agent(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = repo.parent / "agent.toml"
    config.write_text(f'[agent]\nstate_dir = "{repo.parent / "state"}"\n')
    return subprocess.run(
        [AGENT, "snapshot", "--config", str(config), "--repository", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def write_lock(repo: Path, name: str, host: str, pid: int) -> None:
    now = utc_now().isoformat()
    here = holders.here()
    lock = LockRecord(
        "shared", host, pid, "snapshot create", now, now, 0, here.boot_id, here.pid_namespace
    )
    (repo / "locks" / name).write_bytes(msgspec.json.encode(lock))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_unlock_removes_stale_locks_and_with_all_live_ones(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    agent(repo, "--workspace", str(make_tree(tmp_path / "src")), "create")
    (repo / "locks").mkdir(exist_ok=True)
    write_lock(repo, "dead", holders.here().host, dead_pid())
    write_lock(repo, "live", "another-host", 4242)
    (repo / "locks" / "junk").write_bytes(b"junk")
    stale = json.loads(agent(repo, "unlock", "--json").stdout)
    assert sorted(r["key"] for r in stale["removed"]) == ["locks/dead", "locks/junk"]
    assert stale["kept"] == 1 and stale["all"] is False
    again = agent(repo, "unlock").stdout
    assert again.startswith("removed 0 lock(s); 1 live lock(s) kept")
    everything = agent(repo, "unlock", "--all")
    assert "warning: --all removes live locks too" in everything.stderr
    assert "snapshot create on another-host (pid 4242" in everything.stdout
    assert sorted(p.name for p in (repo / "locks").iterdir()) == []
