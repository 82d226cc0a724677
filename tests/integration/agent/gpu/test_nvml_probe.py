"""NvmlProbe through the real pynvml against the NVML double."""

from __future__ import annotations

import ctypes
import logging
import random

import pynvml  # type: ignore[import-untyped]
import pytest

from tests.support.nvml_double import Scenario
from torpor.agent.gpu.model import Availability, GpuEvent, GpuSnapshot
from torpor.agent.gpu.nvml import NvmlProbe
from torpor.agent.gpu.nvml_lib import _ProcessInfoV1
from torpor.common.backoff import Backoff

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def probe_with(events: list[GpuEvent], clock: Clock | None = None) -> NvmlProbe:
    backoff = Backoff(initial_s=1.0, max_s=2.0, rng=random.Random(1))
    return NvmlProbe(on_event=events.append, backoff=backoff, clock=clock or Clock())


def one(snapshot: GpuSnapshot, index: int = 0) -> object:
    return snapshot.gpus[index]


def test_reads_every_field(scenario: Scenario) -> None:
    gpu = scenario.gpus[0]
    gpu.util, gpu.mem_util, gpu.temp, gpu.power_mw, gpu.energy_mj = 55, 12, 61, 312_500, 9_000
    gpu.mem_used, gpu.mem_reserved = 3 * 2**30, 2**29
    gpu.extra["compute"] = "4242:1048576,4343:2097152"
    gpu.extra["graphics"] = "77:4096"
    scenario.write()
    probe = probe_with([])
    try:
        snapshot = probe.poll()
    finally:
        probe.close()
    assert snapshot.error is None and snapshot.driver_version == "550.54.15"
    assert [g.uuid for g in snapshot.gpus] == [g.uuid for g in scenario.gpus]
    sample = snapshot.gpus[0]
    assert sample.name == "NVIDIA H100 80GB HBM3"
    assert sample.utilization_samples.value == [55.0]  # no samples buffered: the rate
    assert sample.memory_utilization_percent.value == 12.0
    assert sample.memory.value is not None
    assert (sample.memory.value.used_bytes, sample.memory.value.reserved_bytes) == (
        3 * 2**30,
        2**29,
    )
    assert sample.power_watts.value == 312.5
    assert sample.energy_millijoules.value == 9_000
    assert sample.temperature_celsius.value == 61
    processes = sample.processes.value
    assert processes is not None
    assert [(p.pid, p.used_memory_bytes, p.kind) for p in processes] == [
        (4242, 1048576, "compute"),
        (4343, 2097152, "compute"),
        (77, 4096, "graphics"),
    ]


def test_every_utilisation_sample_since_the_previous_poll(scenario: Scenario) -> None:
    scenario.gpus[0].extra["samples"] = "1000:10,2000:20,3000:30"
    scenario.write()
    probe = probe_with([])
    try:
        assert probe.poll().gpus[0].utilization_samples.value == [10.0, 20.0, 30.0]
        scenario.gpus[0].extra["samples"] = "2000:20,3000:30,4000:40,5000:50"
        scenario.write()
        assert probe.poll().gpus[0].utilization_samples.value == [40.0, 50.0]
        scenario.gpus[0].util = 7  # nothing new buffered: the current rate stands in
        scenario.write()
        assert probe.poll().gpus[0].utilization_samples.value == [7.0]
    finally:
        probe.close()


def test_refused_field_is_not_supported_and_transient_error_failed(scenario: Scenario) -> None:
    scenario.gpus[0].extra["error.nvmlDeviceGetPowerUsage"] = "NOT_SUPPORTED"
    scenario.gpus[0].extra["error.nvmlDeviceGetTemperature"] = "UNKNOWN"
    scenario.gpus[0].extra["error.nvmlDeviceGetSamples"] = "NOT_SUPPORTED"
    scenario.gpus[0].util = 42
    scenario.write()
    probe = probe_with([])
    try:
        sample = probe.poll().gpus[0]
    finally:
        probe.close()
    assert sample.power_watts.availability is Availability.NOT_SUPPORTED
    assert sample.temperature_celsius.availability is Availability.FAILED
    assert "Unknown" in sample.temperature_celsius.detail
    assert sample.utilization_samples.value == [42.0]  # samples refused: the rate
    assert sample.energy_millijoules.ok


def test_lost_gpu_fails_its_readings_and_raises_one_alert(scenario: Scenario) -> None:
    events: list[GpuEvent] = []
    probe = probe_with(events)
    try:
        probe.poll()
        scenario.gpus[1].extra["lost"] = "1"
        scenario.write()
        for _ in range(2):
            snapshot = probe.poll()
        lost = snapshot.gpus[1]
        assert lost.uuid == scenario.gpus[1].uuid  # still known by its UUID
        assert lost.memory.availability is Availability.FAILED
        assert snapshot.gpus[0].memory.ok
        assert [(e.kind, e.uuid) for e in events] == [("gpu.lost", scenario.gpus[1].uuid)]
        del scenario.gpus[1].extra["lost"]
        scenario.write()
        assert probe.poll().gpus[1].memory.ok
        assert [e.kind for e in events] == ["gpu.lost", "gpu.recovered"]
    finally:
        probe.close()


def test_driver_not_loaded_is_reported_once_then_recovers(
    scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.values["driver"] = "DRIVER_NOT_LOADED"
    scenario.write()
    clock, events = Clock(), []
    probe = probe_with(events, clock)
    try:
        with caplog.at_level(logging.ERROR):
            first = probe.poll()
            clock.now += 5
            second = probe.poll()
        assert first.error is not None and "kernel driver is not loaded" in first.error
        assert second.error == first.error and not second.gpus
        assert len([r for r in caplog.records if "not loaded" in r.message]) == 1
        assert len(events) == 1 and events[0].kind == "gpu.nvml"
        scenario.values["driver"] = "OK"
        scenario.write()
        assert probe.poll().error is not None  # still inside the backoff delay
        clock.now += 5
        recovered = probe.poll()
        assert recovered.error is None and len(recovered.gpus) == 2
    finally:
        probe.close()


def test_driver_lost_after_init_is_a_snapshot_error(scenario: Scenario) -> None:
    probe = probe_with([])
    try:
        assert probe.poll().error is None
        scenario.values["driver_after_init"] = "LIB_RM_VERSION_MISMATCH"
        scenario.write()
        assert "different versions" in (probe.poll().error or "")
    finally:
        probe.close()


def test_mig_devices_are_listed_as_such(scenario: Scenario) -> None:
    parent = scenario.gpus[0]
    parent.extra |= {"mig_mode": "1", "mig_count": "2", "mig.1.name": "NVIDIA H100 1g.10gb"}
    scenario.write()
    probe = probe_with([])
    try:
        gpus = probe.poll().gpus
    finally:
        probe.close()
    assert [(g.is_mig_device, g.parent_uuid, g.mig_index) for g in gpus[:3]] == [
        (False, None, None),
        (True, parent.uuid, 0),
        (True, parent.uuid, 1),
    ]
    assert gpus[2].name == "NVIDIA H100 1g.10gb"
    assert len({g.uuid for g in gpus}) == 4


@pytest.mark.parametrize(
    ("c_name", "pynvml_struct"),
    [
        ("nvmlUtilization_t", pynvml.c_nvmlUtilization_t),
        ("nvmlMemory_t", pynvml.c_nvmlMemory_t),
        ("nvmlMemory_v2_t", pynvml.c_nvmlMemory_v2_t),
        ("nvmlProcessInfo_v2_t", pynvml.c_nvmlProcessInfo_v2_t),
        ("nvmlSample_t", pynvml.c_nvmlSample_t),
        ("nvmlValue_t", pynvml.c_nvmlValue_t),
        ("nvmlEventData_t", pynvml.c_nvmlEventData_t),
    ],
)
def test_struct_sizes_match_pynvml(nvml_library: object, c_name: str, pynvml_struct: type) -> None:
    double = ctypes.CDLL("libnvidia-ml.so.1")  # the preloaded double, by its soname
    double.fake_nvml_sizeof.restype = ctypes.c_size_t
    assert double.fake_nvml_sizeof(c_name.encode()) == ctypes.sizeof(pynvml_struct)


def test_process_v1_struct_matches_the_agents(nvml_library: object) -> None:
    double = ctypes.CDLL("libnvidia-ml.so.1")
    double.fake_nvml_sizeof.restype = ctypes.c_size_t
    assert double.fake_nvml_sizeof(b"nvmlProcessInfo_v1_t") == ctypes.sizeof(_ProcessInfoV1)
    assert pynvml.nvmlMemory_v2 == ctypes.sizeof(pynvml.c_nvmlMemory_v2_t) | 2 << 24
