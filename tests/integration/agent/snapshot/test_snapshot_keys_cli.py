"""`torpor-agent snapshot init` and `snapshot key …` as a user runs them: an encrypted
repository made with a new key file, a second key added, the first removed (rotation
without rewriting data), and every refusal one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.trees import describe, make_tree

pytestmark = pytest.mark.integration

AGENT = str(Path(sys.executable).parent / "torpor-agent")


def agent(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    config = tmp / "agent.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp / "state"}"\n')
    command = [AGENT, "snapshot", "--config", str(config), "--repository", str(tmp / "repo")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TORPOR_SNAPSHOT_")}
    return subprocess.run(
        [*command, "--workspace", str(tmp / "ws"), *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
    )


def test_init_create_rotate_and_restore(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "ws")
    made = agent(tmp_path, "init", "--new-key-file", str(tmp_path / "k1"), "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["encryption"] == "repokey"
    assert (tmp_path / "k1").stat().st_mode & 0o077 == 0
    assert agent(tmp_path, "--key-file", str(tmp_path / "k1"), "create").returncode == 0
    added = agent(
        tmp_path,
        "--key-file",
        str(tmp_path / "k1"),
        "key",
        "add",
        "--new-key-file",
        str(tmp_path / "k2"),
        "--note",
        "ops",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    listed = agent(tmp_path, "--key-file", str(tmp_path / "k2"), "key", "list", "--json")
    first = next(k["key_id"] for k in json.loads(listed.stdout) if k["note"] != "ops")
    removed = agent(tmp_path, "--key-file", str(tmp_path / "k2"), "key", "remove", first[:8])
    assert removed.returncode == 0, removed.stderr
    old_key = agent(tmp_path, "--key-file", str(tmp_path / "k1"), "list")
    assert old_key.returncode == 1 and len(old_key.stderr.strip().splitlines()) == 1
    secret = (tmp_path / "k2").read_text().strip()
    restored = agent(
        tmp_path,
        "restore",
        "latest",
        "--target",
        str(tmp_path / "out"),
        env={"TORPOR_SNAPSHOT_KEY": secret},
    )
    assert restored.returncode == 0, restored.stderr
    assert describe(tmp_path / "out") == describe(source)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("list",), "is encrypted: give --key-file"),
        (("key", "remove", "x"), "managing keys needs the current key"),
        (("init",), "init --encryption repokey needs a key"),
    ],
)
def test_refusals_are_one_line(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    make_tree(tmp_path / "ws")
    if args[0] != "init":
        agent(tmp_path, "init", "--new-key-file", str(tmp_path / "k1"))
    done = agent(tmp_path, *args)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr
    assert "Traceback" not in done.stderr


def test_a_world_readable_key_file_is_refused(tmp_path: Path) -> None:
    make_tree(tmp_path / "ws")
    agent(tmp_path, "init", "--new-key-file", str(tmp_path / "k1"))
    (tmp_path / "k1").chmod(0o644)
    done = agent(tmp_path, "--key-file", str(tmp_path / "k1"), "list")
    assert done.returncode == 1 and "chmod 600" in done.stderr
