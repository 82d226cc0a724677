"""The wheel users install: everything under `torpor/`, the three console scripts."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("torpor-*.whl")
    return zipfile.ZipFile(built)


def test_nothing_lands_outside_the_torpor_namespace(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"torpor"}
    assert "torpor/__init__.py" not in wheel.namelist()  # a namespace others may extend


def test_every_part_and_its_data_is_packaged(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for module in (
        "agent/cli.py",
        "controlplane/cli.py",
        "ctl/cli.py",
        "common/atomic.py",
        "proto/v1/agent_pb2.py",
        "proto/v1/agent_pb2.pyi",
        "proto/py.typed",
    ):
        assert f"torpor/{module}" in names, module
    assert any(n.startswith("torpor/controlplane/db/migrations/versions/") for n in names)


def test_console_scripts(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    text = wheel.read(entry_points).decode()
    for script in (
        "torpor-agent = torpor.agent.cli:main",
        "torpor-controlplane = torpor.controlplane.cli:main",
        "torporctl = torpor.ctl.cli:main",
    ):
        assert script in text
