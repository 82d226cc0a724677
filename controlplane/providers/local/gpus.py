"""The simulated GPUs of a local host: the NVML double's scenario file (`key=value` lines).

The GPUs start idle (no utilisation, no process, idle power): an instance on a local host
is idle until someone makes it busy, which is what the demo's hibernate path needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torpor.common.atomic import atomic_write_text

GIB = 2**30


@dataclass(frozen=True)
class GpuModel:
    name: str
    """What NVML reports as the device name."""
    memory_bytes: int
    idle_power_mw: int


MODELS: dict[str, GpuModel] = {
    "A100-80GB": GpuModel("NVIDIA A100-SXM4-80GB", 80 * GIB, 60_000),
    "H100-80GB": GpuModel("NVIDIA H100 80GB HBM3", 80 * GIB, 70_000),
    "L4": GpuModel("NVIDIA L4", 24 * GIB, 16_000),
}


def model_of(gpu_type: str) -> GpuModel:
    """The model for a table's GPU type; a type only a custom table knows gets 80 GiB."""
    return MODELS.get(gpu_type, GpuModel(f"NVIDIA {gpu_type}", 80 * GIB, 60_000))


def scenario_text(gpu_type: str, gpu_count: int, serial: str) -> str:
    """`gpu_count` idle GPUs of `gpu_type`; `serial` (8 hex digits) makes the UUIDs unique."""
    model = model_of(gpu_type)
    lines = ["driver=OK", "driver_version=550.54.15", f"gpu_count={gpu_count}"]
    for index in range(gpu_count):
        prefix = f"gpu.{index}."
        lines += [
            f"{prefix}name={model.name}",
            f"{prefix}uuid=GPU-{serial}-{index:04d}-0000-0000-000000000000",
            f"{prefix}util=0",
            f"{prefix}mem_util=0",
            f"{prefix}mem_total={model.memory_bytes}",
            f"{prefix}mem_used=0",
            f"{prefix}power_mw={model.idle_power_mw}",
            f"{prefix}temp=33",
        ]
    return "\n".join(lines) + "\n"


def write_scenario(path: Path, gpu_type: str, gpu_count: int, serial: str) -> None:
    """Written atomically: the double never reads half a file."""
    atomic_write_text(path, scenario_text(gpu_type, gpu_count, serial), mode=0o644)
