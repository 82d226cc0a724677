"""GPU telemetry and GPU alerts on a real Connect stream (fake control plane, NVML double)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.agent.fake_control_plane import FakeControlPlane
from tests.support.nvml_double import Scenario
from torpor.agent.config import ControlPlaneSection
from torpor.agent.connection import Connection
from torpor.agent.gpu.monitor import GpuMonitor, PendingEvents
from torpor.agent.gpu.nvml import NvmlProbe
from torpor.agent.identity import CredentialStore
from torpor.agent.stream import HostFacts
from torpor.agent.telemetry.host import HostProbe

pytestmark = pytest.mark.integration


async def test_gpu_telemetry_and_lost_gpu_alert_on_the_stream(
    plane: FakeControlPlane, scenario: Scenario, tmp_path: Path
) -> None:
    scenario.gpus[0].extra["samples"] = "1000:10,2000:30"
    scenario.gpus[0].extra["error.nvmlDeviceGetPowerUsage"] = "NOT_SUPPORTED"
    scenario.write()
    pending = PendingEvents()
    monitor = GpuMonitor(NvmlProbe(on_event=pending.put), 0.05, pending)
    monitor.poll_once()
    store = CredentialStore(tmp_path / "state")
    store.prepare()
    section = ControlPlaneSection(address=plane.address, join_token="tjt_ok")
    facts = HostFacts("gpu-7", {}, datetime(2024, 1, 2, tzinfo=UTC), "Linux 6.1")
    connection = Connection(section, store, facts, HostProbe(tmp_path), gpu=monitor)
    task = asyncio.create_task(connection.run())
    try:
        hello = (await plane.service.next("hello")).hello
        assert [gpu.uuid for gpu in hello.gpus] == [gpu.uuid for gpu in scenario.gpus]
        telemetry = (await plane.service.next("telemetry")).telemetry
        first = telemetry.gpus[0]
        assert (first.utilization_percent, first.utilization_max_percent) == (20.0, 30.0)
        assert first.utilization_sample_count == 2
        assert first.unavailable["power_watts"] == "not_supported"
        assert not first.HasField("power_watts") and first.HasField("energy_millijoules")
        assert telemetry.gpu_driver_version == "550.54.15"
        monitor.start()
        scenario.gpus[1].extra["lost"] = "1"
        scenario.write()
        event = (await plane.service.next("event")).event
        assert (event.kind, event.attributes["uuid"]) == ("gpu.lost", scenario.gpus[1].uuid)
    finally:
        connection.stop()
        async with asyncio.timeout(5):
            await task
        monitor.stop()
