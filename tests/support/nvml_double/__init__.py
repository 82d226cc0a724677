"""A GPU-less NVML: a C double of libnvidia-ml.so.1 driven by a scenario file.

`build()` compiles it (cached), `Scenario` writes what it reports, `preload()` makes the
real pynvml load it in this process.
"""

from tests.support.nvml_double.build import VARIANTS, build, preload
from tests.support.nvml_double.scenario import SCENARIO_ENV, GpuSpec, Scenario

__all__ = ["SCENARIO_ENV", "VARIANTS", "GpuSpec", "Scenario", "build", "preload"]
