"""The agent's own sampling cost: NvmlProbe and HostProbe at 1 Hz with 8 simulated GPUs.

A child process polls the NVML double (built from tests/support/nvml_double, loaded by
the real pynvml) and psutil once a second for `DURATION_S`; its CPU time over that
phase, as a percentage of one core, and its RSS at the end are the figures. The double's
sample buffer is fixed, so after the first poll each poll finds no new sample and falls
back to the utilisation rate (one extra NVML call per GPU, the costlier path). Targets:
under 1 % of one core and under 80 MB RSS. Note: CPU time has 10 ms resolution.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.nvml_double import SCENARIO_ENV, Scenario, build

GPUS = 8
DURATION_S = 20.0
ROOT = Path(__file__).resolve().parent.parent

CHILD = """
    import json, sys, time
    from pathlib import Path
    import psutil
    from tests.support.nvml_double import Scenario
    from torpor.agent.gpu.nvml import NvmlProbe
    from torpor.agent.telemetry.host import HostProbe

    duration_s, gpus = float(sys.argv[1]), int(sys.argv[2])
    scenario = Scenario(Path(sys.argv[3]), gpus=gpus)
    gpu_probe, host_probe = NvmlProbe(), HostProbe(Path("/"))
    me = psutil.Process()
    gpu_probe.poll(); host_probe.sample()  # warm: NVML init and first reads outside the figure
    start_cpu, start = me.cpu_times(), time.monotonic()
    polls = 0
    while time.monotonic() - start < duration_s:
        gpu_probe.poll(); host_probe.sample(); polls += 1
        time.sleep(max(0.0, start + polls - time.monotonic()))
    end_cpu, elapsed = me.cpu_times(), time.monotonic() - start
    cpu_s = (end_cpu.user - start_cpu.user) + (end_cpu.system - start_cpu.system)
    print(json.dumps({"cpu_percent": 100 * cpu_s / elapsed, "rss": me.memory_info().rss,
                      "polls": polls, "per_poll_ms": 1000 * cpu_s / polls}))
"""


def run(workdir: Path) -> list[tuple[str, str, str]]:
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = Scenario(workdir / "nvml-scenario.txt", gpus=GPUS)
    for index, gpu in enumerate(scenario.gpus):
        gpu.util = 50 + index
        gpu.extra["samples"] = ",".join(f"{ts * 166_667}:{(ts * 7) % 100}" for ts in range(1, 97))
        gpu.extra["compute"] = f"{1000 + index}:1073741824"
    scenario.write()
    env = {
        **os.environ,
        SCENARIO_ENV: str(scenario.path),
        "LD_LIBRARY_PATH": str(build("current")),
        "PYTHONPATH": str(ROOT),
    }
    arguments = [str(DURATION_S), str(GPUS), str(scenario.path)]
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), *arguments],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"gpu_probe: {json.dumps(figures)}")
    return [
        (
            f"agent sampling CPU, {GPUS} GPUs @ 1 Hz",
            f"{figures['cpu_percent']:.2f} % of one core",
            f"target < 1 %; {figures['per_poll_ms']:.2f} ms CPU per poll (NVML + psutil)",
        ),
        (
            "agent sampling RSS",
            f"{figures['rss'] / 1e6:.1f} MB",
            "target < 80 MB (the probe process alone, pynvml + psutil + protobuf)",
        ),
    ]
