"""Which GPU probe the daemon uses: NVML when its implementation is installed, else one
that says so at every poll (unknown is busy, so such a host never hibernates)."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import replace

from ..gpu.model import Availability, GpuProbe, GpuSnapshot, Reading
from ..gpu.monitor import GpuMonitor

log = logging.getLogger(__name__)

NVML_MODULE = "torpor.agent.gpu.nvml"
MAX_HELD_SNAPSHOTS = 600  # ten minutes at 1 Hz if the policy loop stalls
NOT_YET = "no GPU poll yet"


class UnavailableProbe:
    """Reports the same error at every poll."""

    def __init__(self, error: str) -> None:
        self._error = error

    def poll(self) -> GpuSnapshot:
        return GpuSnapshot(time.monotonic(), error=self._error)

    def close(self) -> None:
        pass


class NoGpus:
    """`[gpu] enabled = false`: a host without GPUs; the decision rests on the other signals."""

    def poll(self) -> GpuSnapshot:
        return GpuSnapshot(time.monotonic())

    def close(self) -> None:
        pass


class MonitorFeed:
    """The idle policy's view of the agent's one GPU poller (`GpuMonitor`).

    NVML hands each buffered utilisation sample out once, so the policy must not poll the
    probe itself: this feed collects every snapshot the monitor takes and, at each policy
    poll, returns the newest one carrying every sample since the previous policy poll. A
    reading that failed in any of them stays failed (unknown is busy).
    """

    def __init__(self, monitor: GpuMonitor) -> None:
        self._monitor = monitor
        self._seen: list[GpuSnapshot] = []
        self._lock = threading.Lock()
        monitor.add_listener(self._collect)

    def _collect(self, snapshot: GpuSnapshot) -> None:
        with self._lock:
            self._seen.append(snapshot)
            del self._seen[:-MAX_HELD_SNAPSHOTS]

    def poll(self) -> GpuSnapshot:
        with self._lock:
            seen, self._seen = self._seen, []
        if not seen:
            latest = self._monitor.latest()
            return latest if latest is not None else GpuSnapshot(time.monotonic(), error=NOT_YET)
        return merge(seen)

    def close(self) -> None:
        pass  # the monitor belongs to the GPU stack, which stops it


def merge(snapshots: list[GpuSnapshot]) -> GpuSnapshot:
    """The newest snapshot, with every utilisation sample of all of them."""
    newest = snapshots[-1]
    failed = next((s for s in snapshots if s.error is not None), None)
    if failed is not None:
        return failed
    samples: dict[str, list[float]] = {}
    broken: dict[str, Reading[list[float]]] = {}
    for snapshot in snapshots:
        for gpu in snapshot.gpus:
            reading = gpu.utilization_samples
            if reading.ok and reading.value is not None:
                samples.setdefault(gpu.uuid, []).extend(reading.value)
            elif reading.availability is Availability.FAILED:
                broken.setdefault(gpu.uuid, reading)
    gpus = [
        replace(
            gpu,
            utilization_samples=broken.get(gpu.uuid)
            or (Reading.of(samples[gpu.uuid]) if gpu.uuid in samples else gpu.utilization_samples),
        )
        for gpu in newest.gpus
    ]
    return replace(newest, gpus=gpus)


def default_gpu_probe() -> GpuProbe:
    """The NVML probe, imported lazily: it is written separately and may be absent."""
    try:
        module = importlib.import_module(NVML_MODULE)
        probe: GpuProbe = module.NvmlProbe()
    except ImportError:
        log.warning("no NVML probe in this build: GPUs count as busy")
        return UnavailableProbe("NVML implementation not available")
    return probe
