"""Which GPU probe the daemon uses: NVML when its implementation is installed, else one
that says so at every poll (unknown is busy, so such a host never hibernates)."""

from __future__ import annotations

import importlib
import logging
import time

from ..gpu.model import GpuProbe, GpuSnapshot

log = logging.getLogger(__name__)

NVML_MODULE = "torpor.agent.gpu.nvml"


class UnavailableProbe:
    """Reports the same error at every poll."""

    def __init__(self, error: str) -> None:
        self._error = error

    def poll(self) -> GpuSnapshot:
        return GpuSnapshot(time.monotonic(), error=self._error)

    def close(self) -> None:
        pass


def default_gpu_probe() -> GpuProbe:
    """The NVML probe, imported lazily: it is written separately and may be absent."""
    try:
        module = importlib.import_module(NVML_MODULE)
        probe: GpuProbe = module.NvmlProbe()
    except ImportError:
        log.warning("no NVML probe in this build: GPUs count as busy")
        return UnavailableProbe("NVML implementation not available")
    return probe
