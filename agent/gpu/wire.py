"""GPU snapshots and events as the wire contract's messages (common.proto)."""

from __future__ import annotations

import statistics
import uuid as uuid_module
from typing import Any

from torpor.common.timestamps import to_timestamp, utc_now
from torpor.proto.v1 import common_pb2

from .model import Availability, GpuEvent, GpuSample, GpuSnapshot, Reading, Severity

SEVERITIES = {
    Severity.INFO: common_pb2.SEVERITY_INFO,
    Severity.WARNING: common_pb2.SEVERITY_WARNING,
    Severity.ERROR: common_pb2.SEVERITY_ERROR,
}


def fill_telemetry(
    telemetry: common_pb2.Telemetry,
    snapshot: GpuSnapshot | None,
    utilization: dict[str, list[float]],
) -> None:
    """Adds the GPUs; `utilization` holds every sample since the previous heartbeat."""
    if snapshot is None:
        return
    telemetry.gpu_error = snapshot.error or ""
    telemetry.gpu_driver_version = snapshot.driver_version or ""
    for gpu in snapshot.gpus:
        telemetry.gpus.append(gpu_telemetry(gpu, utilization.get(gpu.uuid, [])))


def gpu_telemetry(gpu: GpuSample, samples: list[float]) -> common_pb2.GpuTelemetry:
    message = common_pb2.GpuTelemetry(
        uuid=gpu.uuid,
        index=gpu.index,
        name=gpu.name,
        is_mig=gpu.is_mig_device,
        parent_uuid=gpu.parent_uuid or "",
        utilization_sample_count=len(samples),
    )
    if samples:
        message.utilization_percent = statistics.fmean(samples)
        message.utilization_max_percent = max(samples)
    else:
        _note(message, "utilization_percent", gpu.utilization_samples)
    _set(message, "memory_utilization_percent", gpu.memory_utilization_percent)
    _set(message, "power_watts", gpu.power_watts)
    _set(message, "energy_millijoules", gpu.energy_millijoules)
    _set(message, "temperature_celsius", gpu.temperature_celsius)
    if gpu.memory.ok and gpu.memory.value is not None:
        message.memory_used_bytes = gpu.memory.value.used_bytes
        message.memory_total_bytes = gpu.memory.value.total_bytes
        message.memory_reserved_bytes = gpu.memory.value.reserved_bytes
    else:
        _note(message, "memory_used_bytes", gpu.memory)
    _add_processes(message, gpu)
    return message


def _add_processes(message: common_pb2.GpuTelemetry, gpu: GpuSample) -> None:
    if gpu.processes.value is None:
        _note(message, "processes", gpu.processes)
        return
    message.process_count = len(gpu.processes.value)
    for process in gpu.processes.value:
        entry = message.processes.add(pid=process.pid, kind=process.kind, name=process.name)
        if process.used_memory_bytes is not None:
            entry.used_memory_bytes = process.used_memory_bytes


def _set(message: common_pb2.GpuTelemetry, name: str, reading: Reading[Any]) -> None:
    if reading.ok and reading.value is not None:
        setattr(message, name, reading.value)
    else:
        _note(message, name, reading)


def _note(message: common_pb2.GpuTelemetry, name: str, reading: Reading[Any]) -> None:
    if reading.availability is Availability.NOT_SUPPORTED:
        message.unavailable[name] = "not_supported"
    elif reading.availability is Availability.FAILED:
        message.unavailable[name] = f"failed: {reading.detail}"


def gpu_info(gpu: GpuSample) -> common_pb2.GpuInfo:
    """The inventory line for Hello."""
    total = gpu.memory.value.total_bytes if gpu.memory.ok and gpu.memory.value else 0
    return common_pb2.GpuInfo(
        uuid=gpu.uuid,
        index=gpu.index,
        name=gpu.name,
        memory_total_bytes=total,
        is_mig=gpu.is_mig_device,
        parent_uuid=gpu.parent_uuid or "",
    )


def event_message(event: GpuEvent, host_id: str) -> common_pb2.Event:
    attributes = dict(event.attributes)
    if event.uuid is not None:
        attributes["uuid"] = event.uuid
    return common_pb2.Event(
        id=uuid_module.uuid4().hex,
        at=to_timestamp(utc_now()),
        severity=SEVERITIES[event.severity],
        kind=event.kind,
        message=event.message,
        host_id=host_id,
        attributes=attributes,
    )
