"""The idle policy reading GPUs the daemon's way, over the NVML double and a manual clock.

NVML double → `NvmlProbe` (the real pynvml) → `GpuMonitor` (polled here, no thread) →
`MonitorFeed` → the real signals, policy and `IdleMonitor` of `Rig`. The GPU monitor polls
`gpu_polls_per_poll` times per policy poll, as the daemon's two loops do, and before each
GPU poll the scenario file is rewritten with the utilisation samples the driver would have
buffered since the previous one (one every `SAMPLE_PERIOD_US`, at each GPU's `util`
unless a burst covers that instant).

The double must be loaded first: in this process `preload()`, in a subprocess
`LD_LIBRARY_PATH`, with the scenario file's path in the environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.idle import ManualClock, Rig
from tests.support.nvml_double import Scenario
from torpor.agent.gpu.monitor import GpuMonitor, PendingEvents
from torpor.agent.gpu.nvml import NvmlProbe
from torpor.agent.idle.decision import Decision
from torpor.agent.idle.probes import MonitorFeed

SAMPLE_PERIOD_US = 200_000
"""The double's sampling period (real drivers sample every 1/6 s to 1 s)."""
KEPT_SAMPLES = 20
"""The double's ring buffer: enough for a few seconds, short enough for its 512-byte lines."""


@dataclass(frozen=True)
class Burst:
    """Utilisation `percent` on GPU `gpu` from `start_s` to `end_s` (monotonic), inclusive."""

    gpu: int
    start_s: float
    end_s: float
    percent: int


class TickingClock(ManualClock):
    """A manual clock whose `sleep` (the idle monitor's loop) moves the GPUs along too."""

    def __init__(self) -> None:
        super().__init__()
        self.on_sleep: Callable[[float], None] | None = None

    async def sleep(self, seconds: float) -> None:
        if self.on_sleep is None:
            self.advance(seconds)
        else:
            self.on_sleep(seconds)
        await asyncio.sleep(self.real_pause_s)


class NvmlRig(Rig):
    """`Rig` whose GPUs are the double's, read through the agent's GPU poller."""

    def __init__(
        self, tmp_path: Path, scenario: Scenario, gpu_polls_per_poll: int = 2, **settings: Any
    ) -> None:
        clock = TickingClock()
        self.scenario = scenario
        self.events = PendingEvents()
        self.nvml = NvmlProbe(on_event=self.events.put, clock=clock.monotonic)
        self.gpu_monitor = GpuMonitor(self.nvml, interval_s=1.0, events=self.events)
        self.feed = MonitorFeed(self.gpu_monitor)
        super().__init__(tmp_path, clock=clock, gpu_probe=self.feed, **settings)
        clock.on_sleep = self.advance
        self.gpu_polls_per_poll = gpu_polls_per_poll
        self.bursts: list[Burst] = []
        self._buffers: dict[int, list[tuple[int, int]]] = {}
        self._sampled_to_us = self._now_us()

    def poll(self) -> Decision:
        self.advance(self.settings.poll_interval_s)
        return self.monitor.poll()

    def advance(self, seconds: float) -> None:
        """Moves time on by `seconds`, in steps of one GPU poll each."""
        step = seconds / self.gpu_polls_per_poll
        for _ in range(self.gpu_polls_per_poll):
            self.clock.advance(step)
            self.gpu_poll()

    def gpu_poll(self) -> None:
        """The driver samples up to now; then the GPU monitor polls once."""
        self._sample_until(self._now_us())
        self.scenario.write()
        self.gpu_monitor.poll_once()

    def close(self) -> None:
        self.gpu_monitor.stop()  # never started: only closes the probe

    def utilisation_at(self, gpu: int, at_s: float) -> int:
        for burst in self.bursts:
            if burst.gpu == gpu and burst.start_s <= at_s <= burst.end_s:
                return burst.percent
        return self.scenario.gpus[gpu].util

    def _now_us(self) -> int:
        return round(self.clock.monotonic() * 1_000_000)

    def _sample_until(self, now_us: int) -> None:
        first = (self._sampled_to_us // SAMPLE_PERIOD_US + 1) * SAMPLE_PERIOD_US
        for index, spec in enumerate(self.scenario.gpus):
            buffer = self._buffers.setdefault(index, [])
            for at_us in range(first, now_us + 1, SAMPLE_PERIOD_US):
                buffer.append((at_us, self.utilisation_at(index, at_us / 1_000_000)))
            del buffer[:-KEPT_SAMPLES]
            if buffer:
                spec.extra["samples"] = ",".join(f"{at}:{value}" for at, value in buffer)
        self._sampled_to_us = max(self._sampled_to_us, now_us)
