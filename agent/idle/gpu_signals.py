"""GPU signals: utilisation, memory activity, energy and the processes holding contexts.

Utilisation comes from every sample the driver buffered since the previous poll, and
energy from the monotonic counter's delta, so a burst between two polls is still seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ..gpu.model import Availability, GpuProcess, GpuSample, GpuSnapshot, Reading
from .probes import NOT_YET
from .settings import IdleSection
from .verdict import SignalReading, busy, idle, not_supported, unknown

MIB = 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KernelActivity:
    """A Jupyter kernel as its server reports it (see jupyter.py)."""

    kernel_id: str
    busy: bool
    last_active_wall: float | None


KernelOfPid = Callable[[int], str | None]
"""Maps a process to the Jupyter kernel id it runs, or None."""


class GpuSignals:
    """Turns each GpuSnapshot into readings; remembers GPUs and energy between polls."""

    def __init__(self, kernel_of_pid: KernelOfPid = lambda _pid: None) -> None:
        self._kernel_of_pid = kernel_of_pid
        self._seen: dict[str, int] = {}  # uuid -> index, every GPU ever seen
        self._energy: dict[str, tuple[float, int]] = {}  # uuid -> (monotonic_s, mJ)

    def read(
        self,
        snapshot: GpuSnapshot,
        settings: IdleSection,
        kernels: Mapping[str, KernelActivity],
    ) -> list[SignalReading]:
        if snapshot.error is not None:
            # The agent's first GPU poll (NVML init) is still running: busy, but no alert.
            alert = snapshot.error != NOT_YET
            return [unknown("gpu", f"GPUs cannot be read: {snapshot.error}", alert=alert)]
        readings: list[SignalReading] = []
        present = {gpu.uuid for gpu in snapshot.gpus}
        for uuid, index in sorted(self._seen.items(), key=lambda item: item[1]):
            if uuid not in present:  # fell off the bus, or the driver lost it
                readings.append(unknown(f"gpu{index}", f"GPU {uuid} is lost"))
        for gpu in snapshot.gpus:
            self._seen[gpu.uuid] = gpu.index
            readings.extend(self._one(gpu, snapshot.monotonic_s, settings, kernels))
        return readings

    def _one(
        self,
        gpu: GpuSample,
        at_s: float,
        settings: IdleSection,
        kernels: Mapping[str, KernelActivity],
    ) -> list[SignalReading]:
        prefix = f"gpu{gpu.index}"
        return [
            utilisation(prefix, gpu.utilization_samples, settings.gpu_util_threshold_percent),
            memory_activity(
                prefix,
                gpu.memory_utilization_percent,
                settings.gpu_memory_activity_threshold_percent,
            ),
            self._energy_reading(prefix, gpu, at_s, settings.gpu_busy_power_watts),
            processes(prefix, gpu.processes, settings, kernels, self._kernel_of_pid),
        ]

    def _energy_reading(
        self, prefix: str, gpu: GpuSample, at_s: float, busy_watts: float
    ) -> SignalReading:
        name = f"{prefix}.energy"
        reading = gpu.energy_millijoules
        if not reading.ok or reading.value is None:
            return _unavailable(name, reading)
        previous = self._energy.get(gpu.uuid)
        self._energy[gpu.uuid] = (at_s, reading.value)
        if previous is None:
            return unknown(name, "first reading: no counter delta yet", alert=False)
        elapsed_s, used_mj = at_s - previous[0], reading.value - previous[1]
        if elapsed_s <= 0 or used_mj < 0:
            return unknown(name, "the energy counter went backwards (driver reloaded?)")
        watts = used_mj / 1000 / elapsed_s
        value = f"{watts:.0f} W"
        if watts > busy_watts:
            return busy(name, value, f"average power above {busy_watts:g} W")
        return idle(name, value)


def _unavailable(name: str, reading: Reading[T]) -> SignalReading:
    if reading.availability is Availability.NOT_SUPPORTED:
        return not_supported(name, reading.detail)
    return unknown(name, reading.detail or "not readable")


def utilisation(prefix: str, samples: Reading[list[float]], threshold: float) -> SignalReading:
    """Busy if any buffered sample reached the threshold: a short burst is not averaged away."""
    name = f"{prefix}.utilisation"
    if not samples.ok or samples.value is None:
        return _unavailable(name, samples)
    if not samples.value:
        return unknown(name, "no utilisation samples since the last poll")
    peak = max(samples.value)
    if peak >= threshold:
        return busy(name, f"{peak:.0f}%", f"a sample at or above {threshold:g}%")
    return idle(name, f"{peak:.0f}%")


def memory_activity(prefix: str, percent: Reading[float], threshold: float) -> SignalReading:
    name = f"{prefix}.memory_activity"
    if not percent.ok or percent.value is None:
        return _unavailable(name, percent)
    if percent.value >= threshold:
        return busy(name, f"{percent.value:.0f}%", f"at or above {threshold:g}%")
    return idle(name, f"{percent.value:.0f}%")


def processes(
    prefix: str,
    listed: Reading[list[GpuProcess]],
    settings: IdleSection,
    kernels: Mapping[str, KernelActivity],
    kernel_of_pid: KernelOfPid,
) -> SignalReading:
    """Busy while a process outside the allow-list holds a context, with two exceptions:
    a Jupyter kernel its server reports idle, and (when enabled) any resident process."""
    name = f"{prefix}.processes"
    if not listed.ok or listed.value is None:
        return _unavailable(name, listed)
    holders = [p for p in listed.value if p.name not in settings.process_allow_list]
    if not holders:
        return idle(name, "none")
    value = ", ".join(_describe(p) for p in holders)
    last_active: float | None = None
    for process in holders:
        kernel_id = kernel_of_pid(process.pid)
        kernel = kernels.get(kernel_id) if kernel_id else None
        if kernel is None:
            if settings.resident_inactive_is_idle:
                continue
            return busy(name, value, f"pid {process.pid} holds a GPU context")
        if kernel.busy:
            return busy(name, value, f"Jupyter kernel {kernel.kernel_id} is busy")
        last_active = max(last_active or 0.0, kernel.last_active_wall or 0.0) or None
    return idle(name, value, last_active)


def _describe(process: GpuProcess) -> str:
    size = "" if process.used_memory_bytes is None else f" {process.used_memory_bytes // MIB} MiB"
    return f"{process.pid} {process.name or '?'}{size}"
