"""`make check` must notice generated code that no longer matches the .proto files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]


def test_committed_code_is_fresh() -> None:
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [sys.executable, "proto/generate.py", "--check"],
        cwd=ROOT,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_changed_contract_is_reported_stale(tmp_path: Path) -> None:
    tree = tmp_path / "proto"
    shutil.copytree(ROOT / "proto", tree, ignore=shutil.ignore_patterns("__pycache__"))
    agent_proto = tree / "torpor" / "v1" / "agent.proto"
    agent_proto.write_text(
        agent_proto.read_text().replace(
            "message Ping {", "message Pong {\n  string payload = 1;\n}\n\nmessage Ping {"
        )
    )
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [sys.executable, str(tree / "generate.py"), "--check"],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "stale" in done.stderr and "agent_pb2.py" in done.stderr
