"""NVML behind one thin, typed wrapper over the real `pynvml` (nvidia-ml-py).

Each function returns plain Python values or raises `pynvml.NVMLError`; the newest call
a driver offers is tried first and older ones after it (processes: v3, v2, v1; memory:
v2, v1). Which version worked is remembered per call, so an old driver costs one failed
symbol lookup per process lifetime, not one per poll. Mapping errors to "not available"
is the caller's job (nvml.py), so this file stays a translation of the C API.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import pynvml  # type: ignore[import-untyped]  # nvidia-ml-py ships no type information

NVMLError = pynvml.NVMLError
Handle = Any  # a ctypes pointer to NVML's opaque device struct

NOT_AVAILABLE = {pynvml.NVML_ERROR_NOT_SUPPORTED, pynvml.NVML_ERROR_FUNCTION_NOT_FOUND}
"""The driver or GPU never provides it: the reading is 'not supported', forever."""
DRIVER_GONE = {
    pynvml.NVML_ERROR_UNINITIALIZED,
    pynvml.NVML_ERROR_DRIVER_NOT_LOADED,
    pynvml.NVML_ERROR_LIBRARY_NOT_FOUND,
    pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH,
}
"""NVML itself is unusable: no field of any GPU can be read until it is initialised again."""
GPU_IS_LOST = pynvml.NVML_ERROR_GPU_IS_LOST
LIBRARY_NOT_FOUND = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
DRIVER_NOT_LOADED = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
VERSION_MISMATCH = pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH
NOT_FOUND = pynvml.NVML_ERROR_NOT_FOUND

XID_EVENT = pynvml.nvmlEventTypeXidCriticalError
SINGLE_BIT_ECC_EVENT = pynvml.nvmlEventTypeSingleBitEccError
DOUBLE_BIT_ECC_EVENT = pynvml.nvmlEventTypeDoubleBitEccError
_SAMPLE_FIELDS = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")


class _ProcessInfoV1(ctypes.Structure):
    """nvmlProcessInfo_v1_t: what the unversioned process calls fill (pynvml lacks it)."""

    _fields_ = (("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong))


@dataclass(frozen=True)
class RawProcess:
    pid: int
    used_memory_bytes: int | None


@dataclass(frozen=True)
class RawMemory:
    total: int
    used: int
    reserved: int


def error_code(error: BaseException) -> int:
    return int(getattr(error, "value", pynvml.NVML_ERROR_UNKNOWN))


def init() -> None:
    pynvml.nvmlInit()


def shutdown() -> None:
    pynvml.nvmlShutdown()


def driver_version() -> str:
    return str(pynvml.nvmlSystemGetDriverVersion())


def device_count() -> int:
    return int(pynvml.nvmlDeviceGetCount())


def handle_by_index(index: int) -> Handle:
    return pynvml.nvmlDeviceGetHandleByIndex(index)


def handle_key(handle: Handle) -> int:
    """The handle's address: stable for a device while NVML stays initialised."""
    return int(ctypes.cast(handle, ctypes.c_void_p).value or 0)


def name(handle: Handle) -> str:
    return str(pynvml.nvmlDeviceGetName(handle))


def uuid(handle: Handle) -> str:
    return str(pynvml.nvmlDeviceGetUUID(handle))


def utilization_rates(handle: Handle) -> tuple[int, int]:
    """(GPU %, memory %) over the driver's last sample period."""
    rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
    return int(rates.gpu), int(rates.memory)


def utilization_samples(handle: Handle, after_us: int) -> list[tuple[int, float]]:
    """Every buffered (timestamp µs, GPU %) sample newer than `after_us`, oldest first.

    Raises:
        NVMLError: NOT_FOUND when nothing is newer than `after_us`.
    """
    value_type, samples = pynvml.nvmlDeviceGetSamples(
        handle, pynvml.NVML_GPU_UTILIZATION_SAMPLES, after_us
    )
    field = _SAMPLE_FIELDS[value_type] if 0 <= value_type < len(_SAMPLE_FIELDS) else "uiVal"
    pairs = [(int(s.timeStamp), float(getattr(s.sampleValue, field))) for s in samples]
    return sorted(pairs)


class _Versions:
    """Remembers, per call family, the newest variant the loaded driver has."""

    def __init__(self) -> None:
        self.chosen: dict[str, int] = {}

    def reset(self) -> None:
        self.chosen.clear()


versions = _Versions()


def memory(handle: Handle) -> RawMemory:
    """Memory v2 (reserved apart from used), else v1 (reserved counted as used)."""
    if versions.chosen.get("memory", 2) == 2:
        try:
            info = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
            versions.chosen["memory"] = 2
            return RawMemory(int(info.total), int(info.used), int(info.reserved))
        except pynvml.NVMLError_FunctionNotFound:
            versions.chosen["memory"] = 1
    info = pynvml.nvmlDeviceGetMemoryInfo(handle)
    return RawMemory(int(info.total), int(info.used), 0)


def processes(handle: Handle, kind: str) -> list[RawProcess]:
    """Running "compute" or "graphics" processes through the newest call the driver has."""
    family = "Compute" if kind == "compute" else "Graphics"
    for version in (3, 2, 1):
        if version > versions.chosen.get(kind, 3):  # a newer one was missing before
            continue
        try:
            found = _processes(handle, family, version)
        except pynvml.NVMLError_FunctionNotFound:
            versions.chosen[kind] = version - 1
            continue
        versions.chosen[kind] = version
        return found
    raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)


def _processes(handle: Handle, family: str, version: int) -> list[RawProcess]:
    if version == 1:
        raw = _processes_v1(handle, f"nvmlDeviceGet{family}RunningProcesses")
    else:
        raw = getattr(pynvml, f"nvmlDeviceGet{family}RunningProcesses_v{version}")(handle)
    return [RawProcess(int(p.pid), _memory_or_none(p.usedGpuMemory)) for p in raw]


def _processes_v1(handle: Handle, symbol: str) -> list[_ProcessInfoV1]:
    """The two-call size protocol of nvml.h: ask the count, then fill an oversized array."""
    function = pynvml._nvmlGetFunctionPointer(symbol)  # pynvml has no v1 wrapper
    count = ctypes.c_uint(0)
    result = function(handle, ctypes.byref(count), None)
    if result == pynvml.NVML_SUCCESS:
        return []
    if result != pynvml.NVML_ERROR_INSUFFICIENT_SIZE:
        raise pynvml.NVMLError(result)
    count.value = count.value * 2 + 5  # room for processes started between the two calls
    infos = (_ProcessInfoV1 * count.value)()
    pynvml._nvmlCheckReturn(function(handle, ctypes.byref(count), infos))
    return list(infos[: count.value])


def _memory_or_none(used: int | None) -> int | None:
    """NVML says "not available" with all bits set (and pynvml turns that into None)."""
    if used is None or used == pynvml.NVML_VALUE_NOT_AVAILABLE_ulonglong.value:
        return None
    return int(used)


def power_milliwatts(handle: Handle) -> int:
    return int(pynvml.nvmlDeviceGetPowerUsage(handle))


def energy_millijoules(handle: Handle) -> int:
    return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))


def temperature_celsius(handle: Handle) -> int:
    return int(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))


def mig_enabled(handle: Handle) -> bool:
    current, _pending = pynvml.nvmlDeviceGetMigMode(handle)
    return bool(current == pynvml.NVML_DEVICE_MIG_ENABLE)


def mig_handles(handle: Handle) -> list[Handle]:
    """The MIG devices of a GPU in MIG mode (empty slots are skipped)."""
    found = []
    for index in range(int(pynvml.nvmlDeviceGetMaxMigDeviceCount(handle))):
        try:
            found.append(pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, index))
        except pynvml.NVMLError_NotFound:
            continue
    return found


def ecc_totals(handle: Handle) -> tuple[int, int]:
    """(corrected, uncorrected) volatile ECC error counts since the driver loaded."""
    return (
        int(
            pynvml.nvmlDeviceGetTotalEccErrors(
                handle, pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, pynvml.NVML_VOLATILE_ECC
            )
        ),
        int(
            pynvml.nvmlDeviceGetTotalEccErrors(
                handle, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC
            )
        ),
    )


@dataclass(frozen=True)
class RawEvent:
    handle: Handle
    event_type: int
    data: int


def event_set_create() -> Any:
    return pynvml.nvmlEventSetCreate()


def supported_event_types(handle: Handle) -> int:
    return int(pynvml.nvmlDeviceGetSupportedEventTypes(handle))


def register_events(handle: Handle, types: int, event_set: Any) -> None:
    pynvml.nvmlDeviceRegisterEvents(handle, types, event_set)


def event_wait(event_set: Any, timeout_ms: int) -> RawEvent | None:
    """The next event, or None after `timeout_ms` without one."""
    try:
        data = pynvml.nvmlEventSetWait(event_set, timeout_ms)
    except pynvml.NVMLError_Timeout:
        return None
    return RawEvent(data.device, int(data.eventType), int(data.eventData))


def event_set_free(event_set: Any) -> None:
    pynvml.nvmlEventSetFree(event_set)
