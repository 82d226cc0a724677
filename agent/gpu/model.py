"""What a GPU probe reports, independent of NVML, so the idle policy can be tested alone.

Every field that a driver may not provide is a `Reading`: a value, or the reason there is
none. The idle policy needs the difference between "not supported" (leave the signal out,
forever) and "failed this time" (count the machine as busy): guessing is how users lose
training runs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Availability(enum.Enum):
    """Why a reading has, or has no, value."""

    OK = "ok"
    NOT_SUPPORTED = "not_supported"  # this GPU or driver never provides it: left out
    FAILED = "failed"  # it should be readable but was not, this time: counts as busy


@dataclass(frozen=True, slots=True)
class Reading(Generic[T]):
    """A value, or why there is none (`detail` carries the driver's words)."""

    value: T | None
    availability: Availability = Availability.OK
    detail: str = ""

    @classmethod
    def of(cls, value: T) -> Reading[T]:
        return cls(value)

    @classmethod
    def not_supported(cls, detail: str = "") -> Reading[T]:
        return cls(None, Availability.NOT_SUPPORTED, detail)

    @classmethod
    def failed(cls, detail: str) -> Reading[T]:
        return cls(None, Availability.FAILED, detail)

    @property
    def ok(self) -> bool:
        return self.availability is Availability.OK


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A process holding a context on a GPU."""

    pid: int
    used_memory_bytes: int | None  # None: the driver does not say (e.g. under MIG or WSL)
    kind: str  # "compute" | "graphics"
    name: str = ""  # the executable's name, from /proc, when readable


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    total_bytes: int
    used_bytes: int
    reserved_bytes: int = 0  # only in the v2 struct


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU at one poll; keyed by `uuid`, which survives reboots and re-indexing."""

    uuid: str
    index: int
    name: str
    utilization_samples: Reading[list[float]]
    """Every GPU-utilisation sample (percent) buffered since the previous poll, oldest first."""
    memory_utilization_percent: Reading[float]
    memory: Reading[MemoryInfo]
    processes: Reading[list[GpuProcess]]
    power_watts: Reading[float]
    energy_millijoules: Reading[int]
    """Monotonic energy counter since driver load: the best evidence of real work."""
    temperature_celsius: Reading[int]
    is_mig_device: bool = False
    parent_uuid: str | None = None  # for MIG devices
    mig_index: int | None = None  # for MIG devices: the slot on the parent GPU


@dataclass(frozen=True, slots=True)
class GpuSnapshot:
    """Every GPU of the host at one poll, or why none could be read."""

    monotonic_s: float
    gpus: list[GpuSample] = field(default_factory=list)
    driver_version: str | None = None
    error: str | None = None
    """Set when NVML itself is unusable (no driver, library/driver mismatch): unknown is busy."""


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class GpuEvent:
    """Something a GPU did that an operator should hear about (a lost GPU, an XID, ECC)."""

    kind: str  # dotted, e.g. "gpu.lost", "gpu.xid", "gpu.ecc", "gpu.recovered", "gpu.nvml"
    message: str  # one human-readable line
    severity: Severity = Severity.WARNING
    uuid: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


class GpuProbe(Protocol):
    """Reads every GPU on the host; never raises for a driver problem (it is in the result)."""

    def poll(self) -> GpuSnapshot: ...

    def close(self) -> None: ...
