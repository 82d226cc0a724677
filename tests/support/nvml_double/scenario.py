"""Writes the scenario file fake_nvml.c reads: `key=value` lines, replaced atomically.

Keys (N: GPU index, M: MIG device index):
  driver=OK|DRIVER_NOT_LOADED|LIB_RM_VERSION_MISMATCH  what nvmlInit returns
  driver_after_init=...      what every call returns after a successful init
  driver_version=550.54.15   gpu_count=2
  gpu.N.name / uuid / util / mem_util / temp / power_mw / energy_mj / ecc_sbe / ecc_dbe
  gpu.N.samples=TS:VALUE,... utilisation samples, timestamps in microseconds
  gpu.N.mem_total / mem_used / mem_reserved (bytes)
  gpu.N.compute=PID:BYTES,...   gpu.N.graphics=PID:BYTES,...
  gpu.N.lost=1               every call on the GPU returns GPU_IS_LOST
  gpu.N.error.FUNCTION=CODE  e.g. gpu.0.error.nvmlDeviceGetPowerUsage=NOT_SUPPORTED
  gpu.N.mig_mode=1  gpu.N.mig_count=2  gpu.N.mig.M.uuid / name / mem_total / ...
  event.K=N:TYPE:DATA        K = 1, 2, ...; TYPE 8 is XID (DATA: the XID), 2 double-bit ECC
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SCENARIO_ENV = "TORPOR_FAKE_NVML_SCENARIO"


@dataclass
class GpuSpec:
    """One GPU's values; `extra` holds any other `gpu.N.*` key (errors, MIG, samples)."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = ""
    util: int = 0
    mem_util: int = 0
    mem_total: int = 80 * 2**30
    mem_used: int = 0
    mem_reserved: int = 0
    power_mw: int = 70_000
    energy_mj: int = 0
    temp: int = 35
    extra: dict[str, str] = field(default_factory=dict)


class Scenario:
    """The GPUs a double reports; `write()` makes a change visible to the next NVML call."""

    def __init__(self, path: Path, gpus: int = 1) -> None:
        self.path = path
        self.values: dict[str, str] = {"driver": "OK", "driver_version": "550.54.15"}
        self.gpus = [
            GpuSpec(uuid=f"GPU-{index:08d}-fake-0000-0000-000000000000") for index in range(gpus)
        ]
        self.events: list[str] = []

    def env(self) -> dict[str, str]:
        return {SCENARIO_ENV: str(self.path)}

    def add_event(self, gpu: int, event_type: int, data: int) -> None:
        self.events.append(f"{gpu}:{event_type}:{data}")

    def render(self) -> str:
        lines = [f"{key}={value}" for key, value in self.values.items()]
        lines.append(f"gpu_count={len(self.gpus)}")
        for index, gpu in enumerate(self.gpus):
            for key, value in vars(gpu).items():
                if key != "extra":
                    lines.append(f"gpu.{index}.{key}={value}")
            lines += [f"gpu.{index}.{key}={value}" for key, value in gpu.extra.items()]
        lines += [f"event.{number}={spec}" for number, spec in enumerate(self.events, start=1)]
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        """Write, then rename: the double never reads half a file."""
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        partial.write_text(self.render(), encoding="utf-8")
        partial.replace(self.path)
