"""Fakes for the idle policy: a manual clock, a scripted GPU probe, scripted host counters,
and a rig that wires them to the real signals, policy and monitor."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torpor.agent.gpu.model import (
    GpuProbe,
    GpuProcess,
    GpuSample,
    GpuSnapshot,
    MemoryInfo,
    Reading,
)
from torpor.agent.idle.decision import Decision
from torpor.agent.idle.gpu_signals import GpuSignals
from torpor.agent.idle.host_signals import Counters, HostSignals
from torpor.agent.idle.inhibitors import InhibitorStore
from torpor.agent.idle.jupyter import JupyterServer, JupyterSignal
from torpor.agent.idle.monitor import IdleMonitor, IdleSources
from torpor.agent.idle.sessions import SessionSignal, Terminal
from torpor.agent.idle.settings import IdleSection
from torpor.agent.outbox import Outbox

START_WALL = 1_700_000_000.0
GIB = 1024**3


class ManualClock:
    """Time moves only when told (or when something sleeps on it)."""

    def __init__(self, monotonic: float = 1000.0, wall: float = START_WALL) -> None:
        self._mono = monotonic
        self._offset = wall - monotonic
        self.real_pause_s = 0.0
        """How long `sleep` also yields for real (lets other tasks run in async tests)."""

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._mono + self._offset

    def advance(self, seconds: float) -> None:
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(self.real_pause_s)


def gpu(index: int = 0, **overrides: Any) -> GpuSample:
    """An idle GPU; any field may be overridden."""
    sample = GpuSample(
        uuid=f"GPU-{index:04d}",
        index=index,
        name="NVIDIA H100",
        utilization_samples=Reading.of([0.0, 0.0, 0.0]),
        memory_utilization_percent=Reading.of(0.0),
        memory=Reading.of(MemoryInfo(80 * GIB, 1 * GIB)),
        processes=Reading.of([]),
        power_watts=Reading.of(60.0),
        energy_millijoules=Reading.of(0),  # replaced by the probe's running counter
        temperature_celsius=Reading.of(35),
    )
    return replace(sample, **overrides)


def process(pid: int, name: str = "python", used_bytes: int = 2 * GIB) -> GpuProcess:
    return GpuProcess(pid=pid, used_memory_bytes=used_bytes, kind="compute", name=name)


class ScriptedGpuProbe:
    """A GpuProbe whose GPUs a test sets before each poll; energy accrues at `watts`."""

    def __init__(self, clock: ManualClock, gpus: list[GpuSample] | None = None) -> None:
        self.clock = clock
        self.gpus = [gpu(0)] if gpus is None else gpus
        self.watts: dict[str, float] = {}
        self.error: str | None = None
        self.raises: Exception | None = None
        self._energy_mj: dict[str, float] = {}
        self._last_s = clock.monotonic()

    def poll(self) -> GpuSnapshot:
        if self.raises is not None:
            raise self.raises
        now = self.clock.monotonic()
        elapsed, self._last_s = now - self._last_s, now
        if self.error is not None:
            return GpuSnapshot(now, error=self.error)
        return GpuSnapshot(now, [self._with_energy(each, elapsed) for each in self.gpus])

    def _with_energy(self, sample: GpuSample, elapsed_s: float) -> GpuSample:
        if not sample.energy_millijoules.ok:
            return sample
        watts = self.watts.get(sample.uuid, 60.0)
        total = self._energy_mj.get(sample.uuid, 0.0) + watts * 1000 * elapsed_s
        self._energy_mj[sample.uuid] = total
        return replace(sample, energy_millijoules=Reading.of(int(total)))

    def close(self) -> None:
        pass


@dataclass
class ScriptedHost:
    """Cumulative counters that grow at the rates a test sets."""

    cpu_percent: float = 1.0
    net_bytes_per_s: float = 1000.0
    _state: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])

    def read(self, at_s: float) -> Counters:
        last_at, busy, total, net = self._state
        elapsed = at_s - last_at if last_at else 1.0
        busy += elapsed * self.cpu_percent / 100
        total += elapsed
        net += elapsed * self.net_bytes_per_s
        self._state = [at_s, busy, total, net]
        return Counters(at_s, busy, total, int(net))


class Rig:
    """The real monitor over scripted sources, polled on a manual clock."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        clock: ManualClock | None = None,
        gpu_probe: GpuProbe | None = None,
        **settings: Any,
    ) -> None:
        """`gpu_probe` replaces the scripted `probe` as the policy's GPU source."""
        self.clock = clock or ManualClock()
        self.settings = IdleSection.model_validate(
            {"window_s": 60, "poll_interval_s": 1} | settings
        )
        self.probe = ScriptedGpuProbe(self.clock)
        self.host = ScriptedHost()
        self.terminals: list[Terminal] = []
        self.last_input: dict[str, float] = {}
        self.servers = [JupyterServer("http://127.0.0.1:8888/", "tok", None)]
        self.kernels: list[dict[str, Any]] = []
        self.kernel_pids: dict[int, str] = {}
        self.state_dir = tmp_path / "state"
        self.outbox = Outbox()
        self.sources = IdleSources(
            gpu_probe=gpu_probe or self.probe,
            gpus=GpuSignals(self.kernel_pids.get),
            host=HostSignals(self.host.read),
            sessions=SessionSignal(lambda: self.terminals, self.last_input.__getitem__),
            jupyter=JupyterSignal(lambda: self.servers, lambda _server: self.kernels),
            inhibitors=InhibitorStore(self.state_dir),
            lock_path=self.state_dir / "inhibit.lock",
        )
        self.monitor = IdleMonitor(
            self.settings, self.sources, self.state_dir, self.clock, self.outbox
        )

    def poll(self) -> Decision:
        self.clock.advance(self.settings.poll_interval_s)
        return self.monitor.poll()

    def run_for(self, seconds: float) -> list[Decision]:
        """Polls every interval for `seconds` of manual time; every decision, in order."""
        polls = round(seconds / self.settings.poll_interval_s)
        return [self.poll() for _ in range(polls)]

    def signal(self, decision: Decision, name: str) -> Any:
        [found] = [s for s in decision.signals if s.name == name]
        return found
