"""The idle policy sees every utilisation sample the agent's one GPU poller collected."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.idle import gpu
from torpor.agent.gpu.model import GpuSnapshot, Reading
from torpor.agent.gpu.monitor import GpuMonitor, PendingEvents
from torpor.agent.idle.probes import MonitorFeed

pytestmark = pytest.mark.unit


class Sequence:
    """A probe that returns the given snapshots in turn."""

    def __init__(self, snapshots: list[GpuSnapshot]) -> None:
        self._snapshots = snapshots

    def poll(self) -> GpuSnapshot:
        return self._snapshots.pop(0)

    def close(self) -> None:
        pass


def snapshot(at: float, samples: list[float] | None, error: str | None = None) -> GpuSnapshot:
    reading = Reading.of(samples) if samples is not None else Reading.failed("NVML timeout")
    return GpuSnapshot(at, [replace(gpu(0), utilization_samples=reading)], error=error)


def test_samples_of_every_poll_since_the_last_policy_poll_are_merged() -> None:
    probe = Sequence([snapshot(1, [0.0]), snapshot(2, [90.0, 0.0]), snapshot(3, [0.0])])
    monitor = GpuMonitor(probe, 1.0, PendingEvents())
    feed = MonitorFeed(monitor)
    for _ in range(3):
        monitor.poll_once()
    merged = feed.poll()
    assert merged.gpus[0].utilization_samples.value == [0.0, 90.0, 0.0, 0.0]  # the burst is kept
    assert merged.monotonic_s == 3


def test_a_failed_reading_in_between_stays_failed() -> None:
    probe = Sequence([snapshot(1, [0.0]), snapshot(2, None), snapshot(3, [0.0])])
    monitor = GpuMonitor(probe, 1.0, PendingEvents())
    feed = MonitorFeed(monitor)
    for _ in range(3):
        monitor.poll_once()
    assert not feed.poll().gpus[0].utilization_samples.ok


def test_an_nvml_error_in_between_is_reported() -> None:
    probe = Sequence([snapshot(1, [0.0]), snapshot(2, [0.0], error="driver not loaded")])
    monitor = GpuMonitor(probe, 1.0, PendingEvents())
    feed = MonitorFeed(monitor)
    monitor.poll_once()
    monitor.poll_once()
    assert feed.poll().error == "driver not loaded"


def test_before_the_first_gpu_poll_the_answer_is_unknown() -> None:
    feed = MonitorFeed(GpuMonitor(Sequence([]), 1.0, PendingEvents()))
    assert feed.poll().error is not None
