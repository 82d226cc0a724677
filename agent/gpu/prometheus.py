"""A Prometheus endpoint on the agent, named after dcgm-exporter's metrics.

Off by default (`gpu.prometheus_port`). Metrics are built from the monitor's latest
snapshot at scrape time, so a GPU that disappears also disappears from the output, and
a scrape never calls NVML. Names and units follow dcgm-exporter where it has the metric
(MiB for framebuffer, W, mJ, °C) so existing dashboards work; labels are its `gpu`,
`UUID`, `modelName` and `Hostname`. What DCGM has no name for is `torpor_gpu_*`.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .model import GpuEvent, GpuSample, GpuSnapshot, Reading

LABELS = ["gpu", "UUID", "modelName", "Hostname", "GPU_I_ID"]
MIB = 2**20
_Value = Callable[[GpuSample], float | None]


def _ok(reading: Reading[float] | Reading[int]) -> float | None:
    return float(reading.value) if reading.ok and reading.value is not None else None


def _utilization(gpu: GpuSample) -> float | None:
    samples = gpu.utilization_samples
    if not samples.ok or not samples.value:
        return None
    return statistics.fmean(samples.value)


def _memory(pick: Callable[[int, int, int], int]) -> _Value:
    def value(gpu: GpuSample) -> float | None:
        memory = gpu.memory.value if gpu.memory.ok else None
        if memory is None:
            return None
        return pick(memory.total_bytes, memory.used_bytes, memory.reserved_bytes) / MIB

    return value


def _processes(gpu: GpuSample) -> float | None:
    return float(len(gpu.processes.value)) if gpu.processes.value is not None else None


METRICS: list[tuple[str, str, _Value]] = [
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", _utilization),
    (
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        "Memory utilization (in %).",
        lambda gpu: _ok(gpu.memory_utilization_percent),
    ),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", _memory(lambda t, u, r: u)),
    (
        "DCGM_FI_DEV_FB_FREE",
        "Framebuffer memory free (in MiB).",
        _memory(lambda t, u, r: t - u - r),
    ),
    (
        "DCGM_FI_DEV_FB_RESERVED",
        "Framebuffer memory reserved (in MiB).",
        _memory(lambda t, u, r: r),
    ),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda gpu: _ok(gpu.power_watts)),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "Total energy consumption since boot (in mJ).",
        lambda gpu: _ok(gpu.energy_millijoules),
    ),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", lambda gpu: _ok(gpu.temperature_celsius)),
    ("torpor_gpu_processes", "Processes holding a context on the GPU.", _processes),
]


class GpuCollector(Collector):
    """Builds the metric families from the latest snapshot and the XID events seen."""

    def __init__(self, hostname: str, latest: Callable[[], GpuSnapshot | None]) -> None:
        self._hostname = hostname
        self._latest = latest
        self._last_xid: dict[str, int] = {}
        self._lock = threading.Lock()

    def note_event(self, event: GpuEvent) -> None:
        """DCGM_FI_DEV_XID_ERRORS is the value of the last XID (any thread may call)."""
        if event.kind == "gpu.xid" and event.uuid is not None:
            with self._lock:
                self._last_xid[event.uuid] = int(event.attributes.get("xid", "0"))

    def collect(self) -> Iterator[Metric]:
        snapshot = self._latest()
        gpus = snapshot.gpus if snapshot is not None else []
        for name, documentation, value in METRICS:
            family = GaugeMetricFamily(name, documentation, labels=LABELS)
            for gpu in gpus:
                measured = value(gpu)
                if measured is not None:
                    family.add_metric(self._labels(gpu), measured)
            yield family
        yield self._xid_family(gpus)
        up = GaugeMetricFamily("torpor_nvml_up", "1 when NVML answers, 0 when it cannot start.")
        up.add_metric([], 1.0 if snapshot is not None and snapshot.error is None else 0.0)
        yield up

    def _xid_family(self, gpus: list[GpuSample]) -> Metric:
        family = GaugeMetricFamily(
            "DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", labels=LABELS
        )
        with self._lock:
            last = dict(self._last_xid)
        for gpu in gpus:
            if not gpu.is_mig_device:
                family.add_metric(self._labels(gpu), float(last.get(gpu.uuid, 0)))
        return family

    def _labels(self, gpu: GpuSample) -> list[str]:
        instance = "" if gpu.mig_index is None else str(gpu.mig_index)
        return [str(gpu.index), gpu.uuid, gpu.name, self._hostname, instance]


class PrometheusEndpoint:
    """`/metrics` over HTTP in a thread of its own; `close()` stops it."""

    def __init__(self, collector: GpuCollector, address: str, port: int) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(collector)
        self._server: WSGIServer
        self._server, self._thread = start_http_server(port, address, self.registry)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
