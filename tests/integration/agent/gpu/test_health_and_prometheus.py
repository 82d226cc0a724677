"""XID/ECC events through the health watcher; the DCGM-named Prometheus endpoint."""

from __future__ import annotations

import queue
import random
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.nvml_double import Scenario
from torpor.agent.gpu.health import HealthWatcher
from torpor.agent.gpu.model import GpuEvent, Severity
from torpor.agent.gpu.monitor import GpuMonitor, PendingEvents
from torpor.agent.gpu.nvml import NvmlProbe
from torpor.agent.gpu.prometheus import GpuCollector, PrometheusEndpoint
from torpor.common.backoff import Backoff

pytestmark = pytest.mark.integration
XID, DOUBLE_BIT_ECC = 8, 2


def test_xid_and_ecc_events_are_delivered(scenario: Scenario) -> None:
    received: queue.Queue[GpuEvent] = queue.Queue()
    watcher = HealthWatcher(received.put, Backoff(0.05, 0.1, rng=random.Random(1)), wait_ms=50)
    watcher.start()
    try:
        assert watcher.wait_watching(5)
        scenario.gpus[1].extra["ecc_dbe"] = "3"
        scenario.add_event(1, XID, 79)
        scenario.add_event(1, DOUBLE_BIT_ECC, 0)
        scenario.write()
        xid, ecc = received.get(timeout=5), received.get(timeout=5)
    finally:
        watcher.stop()
    assert (xid.kind, xid.uuid, xid.attributes, xid.severity) == (
        "gpu.xid",
        scenario.gpus[1].uuid,
        {"xid": "79"},
        Severity.ERROR,
    )
    assert ecc.kind == "gpu.ecc" and ecc.attributes["uncorrected_total"] == "3"


def test_prometheus_serves_dcgm_named_metrics(scenario: Scenario) -> None:
    gpu = scenario.gpus[0]
    gpu.util, gpu.mem_used, gpu.power_mw, gpu.energy_mj, gpu.temp = 80, 2 * 2**20, 250_000, 77, 66
    scenario.write()
    monitor = GpuMonitor(NvmlProbe(), 1.0, PendingEvents())
    collector = GpuCollector("host-7", monitor.latest)
    collector.note_event(GpuEvent("gpu.xid", "XID 48", uuid=gpu.uuid, attributes={"xid": "48"}))
    monitor.poll_once()
    endpoint = PrometheusEndpoint(collector, "127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{endpoint.port}/metrics") as response:
            text = response.read().decode()
    finally:
        endpoint.close()
        monitor.stop()
    labels = {
        "gpu": "0",
        "UUID": gpu.uuid,
        "modelName": "NVIDIA H100 80GB HBM3",
        "Hostname": "host-7",
        "GPU_I_ID": "",
    }
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels in (labels, {})
    }
    assert values == {
        "DCGM_FI_DEV_GPU_UTIL": 80.0,
        "DCGM_FI_DEV_MEM_COPY_UTIL": 0.0,
        "DCGM_FI_DEV_FB_USED": 2.0,
        "DCGM_FI_DEV_FB_FREE": 80 * 1024 - 2.0,
        "DCGM_FI_DEV_FB_RESERVED": 0.0,
        "DCGM_FI_DEV_POWER_USAGE": 250.0,
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": 77.0,
        "DCGM_FI_DEV_GPU_TEMP": 66.0,
        "DCGM_FI_DEV_XID_ERRORS": 48.0,
        "torpor_gpu_processes": 0.0,
        "torpor_nvml_up": 1.0,
    }
