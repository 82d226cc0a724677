"""Older drivers and no driver at all, each in a fresh process (pynvml caches symbols)."""

from __future__ import annotations

import pytest

from tests.integration.agent.gpu.conftest import run_variant
from tests.support.nvml_double import Scenario

pytestmark = pytest.mark.integration

POLL = """
    import json
    from torpor.agent.gpu.nvml import NvmlProbe
    from torpor.agent.gpu import nvml_lib
    probe = NvmlProbe()
    gpu = probe.poll().gpus[0]
    print(json.dumps({
        "processes": [[p.pid, p.used_memory_bytes, p.kind] for p in gpu.processes.value],
        "memory": [gpu.memory.value.used_bytes, gpu.memory.value.reserved_bytes],
        "versions": nvml_lib.versions.chosen,
    }))
"""


@pytest.fixture
def busy(scenario: Scenario) -> Scenario:
    gpu = scenario.gpus[0]
    gpu.mem_used, gpu.mem_reserved = 1000, 24
    gpu.extra |= {"compute": "11:100,12:200", "graphics": "13:300"}
    scenario.write()
    return scenario


@pytest.mark.parametrize(
    ("variant", "versions", "memory"),
    [
        ("current", {"memory": 2, "compute": 3, "graphics": 3}, [1000, 24]),
        ("no_v3", {"memory": 1, "compute": 2, "graphics": 2}, [1024, 0]),
        ("v1_only", {"memory": 1, "compute": 1, "graphics": 1}, [1024, 0]),
    ],
)
def test_newest_call_first_then_older(
    busy: Scenario, variant: str, versions: dict[str, int], memory: list[int]
) -> None:
    result = run_variant(variant, busy, POLL)
    expected = [[11, 100, "compute"], [12, 200, "compute"], [13, 300, "graphics"]]
    assert result["processes"] == expected
    assert result["versions"] == versions
    assert result["memory"] == memory  # v1 counts the reserved memory as used


def test_missing_library_is_one_clear_error(scenario: Scenario) -> None:
    result = run_variant(
        None,
        scenario,
        """
        import json
        from torpor.agent.gpu.nvml import NvmlProbe
        snapshot = NvmlProbe().poll()
        print(json.dumps([snapshot.error, len(snapshot.gpus)]))
        """,
    )
    assert result == [
        "NVML unavailable: libnvidia-ml.so.1 not found (no NVIDIA driver installed, or not "
        "visible in this container)",
        0,
    ]
