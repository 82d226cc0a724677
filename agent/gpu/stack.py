"""Assembles the GPU side of the agent from `[gpu]`: probe, monitor, health watcher and
the optional Prometheus endpoint, started and stopped together."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .health import HealthWatcher
from .model import GpuEvent
from .monitor import GpuMonitor, PendingEvents
from .nvml import NvmlProbe
from .prometheus import GpuCollector, PrometheusEndpoint
from .settings import GpuSection

log = logging.getLogger(__name__)


@dataclass
class GpuStack:
    monitor: GpuMonitor
    watcher: HealthWatcher | None
    endpoint: PrometheusEndpoint | None

    def stop(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
        if self.watcher is not None:
            self.watcher.stop()
        self.monitor.stop()


def start_gpu_stack(section: GpuSection, hostname: str) -> GpuStack | None:
    """None when `[gpu] enabled = false`.

    Raises:
        OSError: the Prometheus port cannot be bound (a configuration problem).
    """
    if not section.enabled:
        return None
    pending = PendingEvents()
    collector: GpuCollector | None = None

    def on_event(event: GpuEvent) -> None:
        pending.put(event)
        if collector is not None:
            collector.note_event(event)

    monitor = GpuMonitor(NvmlProbe(on_event=on_event), section.poll_interval_s, pending)
    endpoint = None
    if section.prometheus_port is not None:
        collector = GpuCollector(hostname, monitor.latest)
        endpoint = PrometheusEndpoint(
            collector, section.prometheus_address, section.prometheus_port
        )
        log.info("GPU metrics on http://%s:%d/metrics", section.prometheus_address, endpoint.port)
    watcher = HealthWatcher(on_event) if section.health_events else None
    monitor.start()
    if watcher is not None:
        watcher.start()
    return GpuStack(monitor, watcher, endpoint)
