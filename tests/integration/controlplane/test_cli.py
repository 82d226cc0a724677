"""The `torpor-controlplane` console script, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent / "torpor-controlplane"


def run(state_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        env={**os.environ, "TORPOR_STATE_DIR": str(state_dir), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_tokens_create_list_revoke(tmp_path: Path) -> None:
    created = run(tmp_path, "tokens", "create", "--ttl", "15m", "--note", "rack 4")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("tjt_") and created.stdout.count("\n") == 1
    assert "900" in created.stderr
    listed = run(tmp_path, "tokens", "list")
    header, row = listed.stdout.splitlines()
    assert header.split()[:3] == ["ID", "CREATED", "EXPIRES"] and "rack 4" in row
    token_id = row.split()[0]
    assert run(tmp_path, "tokens", "revoke", token_id).returncode == 0
    assert "revoked" in run(tmp_path, "tokens", "list").stdout
    missing = run(tmp_path, "tokens", "revoke", "nope")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    admin = run(tmp_path, "admin-tokens", "create", "alice")
    assert admin.returncode == 0 and admin.stdout.startswith("tat_")
    assert (tmp_path / "controlplane.db").exists()


def test_invalid_settings_exit_78_listing_every_error(tmp_path: Path) -> None:
    done = run(tmp_path, "db", "upgrade", TORPOR_HTTP_PORT="70000", TORPOR_LOG_LEVEL="loud")
    assert done.returncode == 78
    lines = done.stderr.splitlines()
    assert lines[0] == "torpor-controlplane: invalid configuration:"
    assert "TORPOR_HTTP_PORT: Input should be less than 65536" in lines[1]
    assert "TORPOR_LOG_LEVEL" in lines[2] and len(lines) == 3


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://torpor:hunter2@127.0.0.1:1/none"
    done = run(tmp_path, "db", "upgrade", TORPOR_DATABASE_URL=url)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr and "TORPOR_DATABASE_URL" in done.stderr


def test_a_master_key_others_may_read_stops_serve_in_one_line(tmp_path: Path) -> None:
    key = tmp_path / "repository-master.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    done = run(tmp_path, "serve", TORPOR_HTTP_PORT="0", TORPOR_GRPC_PORT="0")
    assert done.returncode == 78, done.stderr
    assert done.stderr.strip().endswith(f"chmod 600 {key}") and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    key.chmod(0o600)
    key.write_bytes(os.urandom(16))
    short = run(tmp_path, "tokens", "list")
    assert short.returncode == 78 and "not 32 random bytes" in short.stderr
    assert short.stderr.count("\n") == 1


def test_the_master_key_is_made_on_first_start(tmp_path: Path) -> None:
    assert run(tmp_path, "tokens", "list").returncode == 0
    key = tmp_path / "repository-master.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
