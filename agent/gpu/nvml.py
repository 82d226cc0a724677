"""`NvmlProbe`: the `GpuProbe` over the real NVML (docs/design.md, "GPU telemetry").

Three kinds of failure, kept apart because the idle policy treats them differently:
a field the driver lacks or refuses is `Reading.not_supported`; a field that failed this
time is `Reading.failed` (a lost GPU also raises one `gpu.lost` event); NVML itself
unusable (no library, driver not loaded, library/driver mismatch) sets
`GpuSnapshot.error`, is logged once, and initialisation is retried with backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from torpor.common.backoff import Backoff

from . import nvml_lib as lib
from .model import (
    GpuEvent,
    GpuProcess,
    GpuSample,
    GpuSnapshot,
    MemoryInfo,
    Reading,
    Severity,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
U = TypeVar("U")
EventSink = Callable[[GpuEvent], None]
INIT_RETRY_INITIAL_S = 1.0
INIT_RETRY_MAX_S = 60.0


class DriverGone(Exception):
    """NVML itself stopped answering mid-poll; `error` is what it said."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class _Device:
    """What never changes while NVML stays initialised: read once per handle."""

    uuid: str
    name: str
    index: int
    parent_uuid: str | None = None
    mig_index: int | None = None


class NvmlProbe:
    """Reads every GPU and MIG device; NVML is initialised once, on the first poll."""

    def __init__(
        self,
        on_event: EventSink = lambda _event: None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_event = on_event
        self._backoff = backoff or Backoff(INIT_RETRY_INITIAL_S, INIT_RETRY_MAX_S)
        self._clock = clock
        self._initialised = False
        self._retry_at = 0.0
        self._error: str | None = None
        self._driver_version: str | None = None
        self._devices: dict[int, _Device] = {}  # by handle address
        self._by_index: dict[int, _Device] = {}  # the last device seen at an index
        self._last_sample_us: dict[str, int] = {}
        self._lost: set[str] = set()
        self._lost_this_poll: set[str] = set()

    def poll(self) -> GpuSnapshot:
        now = self._clock()
        if not self._ensure_initialised(now):
            return GpuSnapshot(now, error=self._error)
        try:
            gpus = self._read_all()
        except DriverGone as gone:
            self._give_up(gone.error, now)
            return GpuSnapshot(now, error=self._error)
        return GpuSnapshot(now, gpus, self._driver_version)

    def close(self) -> None:
        if self._initialised:
            self._initialised = False
            try:
                lib.shutdown()
            except lib.NVMLError as error:
                log.debug("nvmlShutdown: %s", error)

    # -- initialisation, once, with backoff ------------------------------------------

    def _ensure_initialised(self, now: float) -> bool:
        if self._initialised:
            return True
        if now < self._retry_at:
            return False
        try:
            lib.init()
            self._driver_version = lib.driver_version()
        except lib.NVMLError as error:
            self._give_up(error, now)
            return False
        lib.versions.reset()
        self._initialised = True
        self._backoff.reset()
        self._devices.clear()
        if self._error is not None:
            log.info("NVML available again (driver %s)", self._driver_version)
        self._error = None
        return True

    def _give_up(self, error: BaseException, now: float) -> None:
        """Reports a new reason once (log and event); the same one again stays quiet.

        No library at all is likely a host without GPUs, so it is a warning that says how
        to turn GPU sampling off; a driver that is there but broken is an error.
        """
        self.close()
        reason = _unusable(error)
        if reason != self._error:
            if lib.error_code(error) == lib.LIBRARY_NOT_FOUND:
                log.warning("%s; set [gpu] enabled = false on a host without GPUs", reason)
            else:
                log.error("%s; GPUs count as busy until it is fixed", reason)
            self._on_event(GpuEvent("gpu.nvml", reason, Severity.ERROR))
        self._error = reason
        self._retry_at = now + self._backoff.next_delay()

    # -- one poll --------------------------------------------------------------------

    def _read_all(self) -> list[GpuSample]:
        self._lost_this_poll.clear()
        samples: list[GpuSample] = []
        for index in range(_driver_call(lib.device_count)):
            try:
                handle = _driver_call(lib.handle_by_index, index)
            except lib.NVMLError as error:
                samples += self._unreadable(index, error)
                continue
            samples += self._read_gpu(handle, index)
        return samples

    def _read_gpu(self, handle: lib.Handle, index: int) -> list[GpuSample]:
        try:
            device = self._device(handle, index)
        except lib.NVMLError as error:
            return self._unreadable(index, error)
        self._by_index[index] = device
        found = [self._sample(handle, device)]
        mig = self._field(device, lib.mig_enabled, handle)
        if mig.ok and mig.value:
            found += self._read_mig(handle, device)
        return found

    def _read_mig(self, handle: lib.Handle, parent: _Device) -> list[GpuSample]:
        try:
            mig_handles = _driver_call(lib.mig_handles, handle)
        except lib.NVMLError as error:
            log.debug("MIG devices of %s unreadable: %s", parent.uuid, error)
            return []
        found = []
        for slot, mig_handle in enumerate(mig_handles):
            try:
                device = self._device(mig_handle, parent.index, parent.uuid, slot)
            except lib.NVMLError as error:
                log.debug("MIG device %d of %s unreadable: %s", slot, parent.uuid, error)
                continue
            found.append(self._sample(mig_handle, device))
        return found

    def _device(
        self,
        handle: lib.Handle,
        index: int,
        parent_uuid: str | None = None,
        mig_index: int | None = None,
    ) -> _Device:
        key = lib.handle_key(handle)
        device = self._devices.get(key)
        if device is None:
            uuid = _driver_call(lib.uuid, handle)
            name = _driver_call(lib.name, handle)
            device = _Device(uuid, name, index, parent_uuid, mig_index)
            self._devices[key] = device
        return device

    def _sample(self, handle: lib.Handle, device: _Device) -> GpuSample:
        rates = self._field(device, lib.utilization_rates, handle)
        sample = GpuSample(
            uuid=device.uuid,
            index=device.index,
            name=device.name,
            utilization_samples=self._utilization(handle, device, rates),
            memory_utilization_percent=_map(rates, lambda pair: float(pair[1])),
            memory=_map(self._field(device, lib.memory, handle), _memory_info),
            processes=self._processes(handle, device),
            power_watts=_map(self._field(device, lib.power_milliwatts, handle), _watts),
            energy_millijoules=self._field(device, lib.energy_millijoules, handle),
            temperature_celsius=self._field(device, lib.temperature_celsius, handle),
            is_mig_device=device.parent_uuid is not None,
            parent_uuid=device.parent_uuid,
            mig_index=device.mig_index,
        )
        self._note_recovery(device)
        return sample

    def _utilization(
        self, handle: lib.Handle, device: _Device, rates: Reading[tuple[int, int]]
    ) -> Reading[list[float]]:
        """Every sample since the last poll; else the current rate (buffer empty or absent)."""
        after_us = self._last_sample_us.get(device.uuid, 0)
        try:
            pairs = _driver_call(lib.utilization_samples, handle, after_us)
        except lib.NVMLError as error:
            if lib.error_code(error) not in (*lib.NOT_AVAILABLE, lib.NOT_FOUND):
                return self._failure(device, error)
            return _map(rates, lambda pair: [float(pair[0])])
        if pairs:
            self._last_sample_us[device.uuid] = pairs[-1][0]
        return Reading.of([value for _, value in pairs])

    def _processes(self, handle: lib.Handle, device: _Device) -> Reading[list[GpuProcess]]:
        found: list[GpuProcess] = []
        for kind in ("compute", "graphics"):
            reading = self._field(device, lib.processes, handle, kind)
            if not reading.ok or reading.value is None:
                return Reading(None, reading.availability, reading.detail)
            found += [
                GpuProcess(p.pid, p.used_memory_bytes, kind, _comm(p.pid)) for p in reading.value
            ]
        return Reading.of(found)

    def _field(self, device: _Device, read: Callable[..., T], *args: object) -> Reading[T]:
        """One NVML call as a Reading: the driver's refusal is data, not an exception."""
        try:
            return Reading.of(_driver_call(read, *args))
        except lib.NVMLError as error:
            return self._failure(device, error)

    def _failure(self, device: _Device, error: BaseException) -> Reading[T]:
        code = lib.error_code(error)
        if code in lib.NOT_AVAILABLE:
            return Reading.not_supported(str(error))
        if code == lib.GPU_IS_LOST:
            self._note_lost(device.uuid, device.name, str(error))
        return Reading.failed(str(error))

    def _unreadable(self, index: int, error: BaseException) -> list[GpuSample]:
        """A GPU whose handle or identity cannot be read: all failed, under its last UUID."""
        known = self._by_index.get(index)
        if known is None:
            log.warning("GPU %d unreadable and never seen before: %s", index, error)
            return []
        if lib.error_code(error) == lib.GPU_IS_LOST:
            self._note_lost(known.uuid, known.name, str(error))
        return [_all_failed(known, str(error))]

    def _note_lost(self, uuid: str, name: str, detail: str) -> None:
        self._lost_this_poll.add(uuid)
        if uuid in self._lost:
            return
        self._lost.add(uuid)
        log.error("GPU %s (%s) is lost: %s", uuid, name, detail)
        self._on_event(
            GpuEvent("gpu.lost", f"GPU {uuid} ({name}) is lost: {detail}", Severity.ERROR, uuid)
        )

    def _note_recovery(self, device: _Device) -> None:
        if device.uuid not in self._lost or device.uuid in self._lost_this_poll:
            return
        self._lost.discard(device.uuid)
        log.info("GPU %s answers again", device.uuid)
        self._on_event(
            GpuEvent(
                "gpu.recovered", f"GPU {device.uuid} answers again", Severity.INFO, device.uuid
            )
        )


def _driver_call(read: Callable[..., T], *args: object) -> T:
    """Calls NVML; an error that means NVML itself is gone becomes DriverGone."""
    try:
        return read(*args)
    except lib.NVMLError as error:
        if lib.error_code(error) in lib.DRIVER_GONE:
            raise DriverGone(error) from error
        raise


def _unusable(error: BaseException) -> str:
    """The one clear line for an NVML that cannot start."""
    code = lib.error_code(error)
    hints = {
        lib.LIBRARY_NOT_FOUND: "libnvidia-ml.so.1 not found (no NVIDIA driver "
        "installed, or not visible in this container)",
        lib.DRIVER_NOT_LOADED: "the NVIDIA kernel driver is not loaded",
        lib.VERSION_MISMATCH: "the NVML library and the loaded kernel "
        "driver are different versions (a driver upgrade without reboot?)",
    }
    return f"NVML unavailable: {hints.get(code, str(error))}"


def _map(reading: Reading[T], convert: Callable[[T], U]) -> Reading[U]:
    if reading.ok and reading.value is not None:
        return Reading.of(convert(reading.value))
    return Reading(None, reading.availability, reading.detail)


def _memory_info(raw: lib.RawMemory) -> MemoryInfo:
    return MemoryInfo(raw.total, raw.used, raw.reserved)


def _watts(milliwatts: int) -> float:
    return milliwatts / 1000


def _comm(pid: int) -> str:
    """The process's executable name, when this agent may read it."""
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _all_failed(device: _Device, detail: str) -> GpuSample:
    failed: Reading[Any] = Reading.failed(detail)
    return GpuSample(
        uuid=device.uuid,
        index=device.index,
        name=device.name,
        utilization_samples=failed,
        memory_utilization_percent=failed,
        memory=failed,
        processes=failed,
        power_watts=failed,
        energy_millijoules=failed,
        temperature_celsius=failed,
        is_mig_device=device.parent_uuid is not None,
        parent_uuid=device.parent_uuid,
        mig_index=device.mig_index,
    )
