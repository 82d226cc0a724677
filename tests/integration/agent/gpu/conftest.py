"""The NVML double, built once per session and loaded into this process.

Every in-process test shares one loaded library (pynvml caches its function pointers),
and points it at its own scenario file through the environment, which the double reads
on every call. Driver variants run in subprocesses (`run_variant`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.nvml_double import SCENARIO_ENV, Scenario, build, preload

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="session")
def nvml_library() -> Path:
    preload("current")
    return build("current")


@pytest.fixture
def scenario(
    nvml_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Scenario]:
    del nvml_library
    current = Scenario(tmp_path / "scenario.txt", gpus=2)
    current.write()
    monkeypatch.setenv(SCENARIO_ENV, str(current.path))
    yield current


def run_variant(variant: str | None, scenario: Scenario, code: str) -> Any:
    """Runs `code` in a fresh Python whose NVML is `variant` (None: no library at all);
    the code prints one JSON value, returned here."""
    env = {**os.environ, SCENARIO_ENV: str(scenario.path), "PYTHONPATH": str(ROOT)}
    env["LD_LIBRARY_PATH"] = str(build(variant)) if variant else ""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
