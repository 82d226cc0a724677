"""The idle policy over GPUs read through the real pynvml from the NVML double.

The chain is the daemon's: double → NvmlProbe → GpuMonitor → MonitorFeed → IdleMonitor,
with the GPU monitor polled by the test (no thread) and time on a manual clock, so an
idle window of a minute passes in well under a second. Host counters, sessions and
Jupyter are scripted (`tests/support/idle.py`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agent.fake_control_plane import FakeControlPlane
from tests.integration.agent.gpu.conftest import run_variant
from tests.support.idle_nvml import Burst, NvmlRig
from tests.support.nvml_double import Scenario
from tests.support.processes import BIN, Agent, wait_until
from torpor.agent.idle.verdict import Verdict
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.integration

WINDOW_S = 60
GIB = 2**30
HOLDER = 4242  # a pid that holds a GPU context (no such process here: its name reads "?")


@pytest.fixture
def rig(tmp_path: Path, scenario: Scenario) -> Iterator[NvmlRig]:
    made = NvmlRig(tmp_path, scenario)
    yield made
    made.close()


def hold_memory(scenario: Scenario) -> None:
    gpu = scenario.gpus[0]
    gpu.mem_used = 2 * GIB
    gpu.extra["compute"] = f"{HOLDER}:{2 * GIB}"


def test_idle_gpus_go_idle_after_the_window_only(rig: NvmlRig) -> None:
    decisions = rig.run_for(WINDOW_S + 2)
    assert not any(d.idle for d in decisions[:-2])
    assert decisions[-1].idle
    names = {s.name for s in decisions[-1].signals}
    assert {"gpu0.utilisation", "gpu1.processes", "gpu1.energy"} <= names
    assert all(s.verdict is Verdict.IDLE for s in decisions[-1].signals)


def test_busy_gpus_are_never_idle(rig: NvmlRig, scenario: Scenario) -> None:
    scenario.gpus[0].util = 80
    decisions = rig.run_for(3 * WINDOW_S)
    assert not any(d.idle for d in decisions)
    last = decisions[-1]
    assert rig.signal(last, "gpu0.utilisation").verdict is Verdict.BUSY
    assert rig.signal(last, "gpu0.utilisation").value == "80%"
    assert rig.signal(last, "gpu1.utilisation").verdict is Verdict.IDLE


def test_a_process_holding_memory_at_zero_utilisation_is_busy_by_default(
    rig: NvmlRig, scenario: Scenario
) -> None:
    hold_memory(scenario)
    decisions = rig.run_for(2 * WINDOW_S)
    assert not any(d.idle for d in decisions)
    last = decisions[-1]
    held = rig.signal(last, "gpu0.processes")
    assert held.verdict is Verdict.BUSY
    assert held.value.startswith(f"{HOLDER} ") and "2048 MiB" in held.value
    assert rig.signal(last, "gpu0.utilisation").verdict is Verdict.IDLE
    assert [s.name for s in last.blockers()] == ["gpu0.processes"]


def test_a_resident_inactive_process_is_idle_with_the_option(
    tmp_path: Path, scenario: Scenario
) -> None:
    hold_memory(scenario)
    rig = NvmlRig(tmp_path, scenario, resident_inactive_is_idle=True)
    try:
        decisions = rig.run_for(WINDOW_S + 2)
    finally:
        rig.close()
    assert not any(d.idle for d in decisions[:-2])
    assert decisions[-1].idle
    held = rig.signal(decisions[-1], "gpu0.processes")
    assert held.verdict is Verdict.IDLE and held.value.startswith(f"{HOLDER} ")


def test_a_two_second_burst_between_polls_is_sampled_not_missed(
    tmp_path: Path, scenario: Scenario
) -> None:
    # Policy polls every 5 s, the GPU monitor every 1 s; the burst lies between two policy
    # polls, and every GPU poll's own reading at a policy poll is 0%.
    rig = NvmlRig(tmp_path, scenario, gpu_polls_per_poll=5, poll_interval_s=5)
    try:
        before = rig.run_for(30)[-1]
        assert rig.signal(before, "gpu0.utilisation").idle_for_s == pytest.approx(25)
        now = rig.clock.monotonic()
        rig.bursts.append(Burst(0, now + 1.5, now + 3.5, 90))
        burst = rig.poll()
        at_the_poll = rig.gpu_monitor.latest()
        decisions = rig.run_for(WINDOW_S + 5)
    finally:
        rig.close()
    assert scenario.gpus[0].util == 0  # the instantaneous rate never moved
    assert at_the_poll is not None
    assert at_the_poll.gpus[0].utilization_samples.value == [0.0] * 5  # 3.6 s .. 5.0 s
    assert not burst.idle
    status = rig.signal(burst, "gpu0.utilisation")
    assert (status.verdict, status.value) == (Verdict.BUSY, "90%")
    assert rig.signal(decisions[0], "gpu0.utilisation").idle_for_s == 0  # the window restarts
    assert not any(d.idle for d in decisions[:-1])  # without the burst: idle 30 s in
    assert decisions[-1].idle  # a full window after the burst
    assert decisions[-1].hibernate_in_s == 0


def test_an_injected_error_is_busy_and_alerts_once(rig: NvmlRig, scenario: Scenario) -> None:
    assert rig.run_for(WINDOW_S + 2)[-1].idle
    scenario.gpus[0].extra["error.nvmlDeviceGetSamples"] = "UNKNOWN"
    decisions = rig.run_for(5)
    assert not any(d.idle for d in decisions)
    assert [a.name for a in decisions[0].alerts] == ["gpu0.utilisation"]
    assert "Unknown" in decisions[0].alerts[0].detail
    assert all(not d.alerts for d in decisions[1:])
    assert rig.signal(decisions[-1], "gpu0.utilisation").verdict is Verdict.UNKNOWN
    del scenario.gpus[0].extra["error.nvmlDeviceGetSamples"]
    recovered = rig.run_for(WINDOW_S + 1)
    assert not any(d.idle for d in recovered[:-1])  # a new window from the first good poll
    assert recovered[-1].idle


async def test_a_lost_gpu_is_busy_with_a_probe_alert_and_an_idle_alert(
    rig: NvmlRig, scenario: Scenario
) -> None:
    async def next_message() -> agent_pb2.AgentMessage:
        return await asyncio.wait_for(rig.outbox.get(), timeout=10)

    task = asyncio.create_task(rig.monitor.run())  # the daemon's loop, on the manual clock
    try:
        first = await next_message()
        assert first.idle_report.idle  # only ever sent when the verdict changes
        assert rig.clock.monotonic() - 1000.0 >= WINDOW_S
        scenario.gpus[1].extra["lost"] = "1"
        messages = [await next_message() for _ in range(2)]
        while len(messages) < 8:  # every readable-then-lost signal alerts, once
            try:
                messages.append(await asyncio.wait_for(rig.outbox.get(), timeout=0.5))
            except TimeoutError:
                break
    finally:
        task.cancel()
    events = [m.event for m in messages if m.HasField("event")]
    reports = [m.idle_report for m in messages if m.HasField("idle_report")]
    assert [r.idle for r in reports] == [False]
    assert {e.kind for e in events} == {"idle.signal_unknown"}
    alerted = {e.attributes["signal"] for e in events}
    assert "gpu1.utilisation" in alerted and all(s.startswith("gpu1.") for s in alerted)
    assert rig.monitor.latest is not None and not rig.monitor.latest.idle
    lost = [(e.kind, e.uuid) for e in rig.events.take()]
    assert lost == [("gpu.lost", scenario.gpus[1].uuid)]
    assert rig.signal(rig.monitor.latest, "gpu0.utilisation").verdict is Verdict.IDLE


OLD_DRIVER = """
    import json, os, tempfile
    from pathlib import Path
    from tests.support.idle_nvml import NvmlRig
    from tests.support.nvml_double import SCENARIO_ENV, Scenario
    from torpor.agent.gpu import nvml_lib

    def run(resident, util=0):
        scenario = Scenario(Path(os.environ[SCENARIO_ENV]), gpus=1)
        gpu = scenario.gpus[0]
        gpu.util, gpu.mem_used, gpu.mem_reserved = util, 2 * 2**30, 2**20
        gpu.extra |= {"compute": "4242:2147483648", "graphics": "4343:1048576"}
        with tempfile.TemporaryDirectory() as tmp:
            rig = NvmlRig(Path(tmp), scenario, resident_inactive_is_idle=resident)
            try:
                decisions = rig.run_for(62)
                memory = rig.gpu_monitor.latest().gpus[0].memory.value
            finally:
                rig.close()
        return {
            "ever_idle": any(d.idle for d in decisions),
            "last_idle": decisions[-1].idle,
            "signals": {s.name: [s.verdict.value, s.value] for s in decisions[-1].signals},
            "memory": [memory.used_bytes, memory.reserved_bytes],
            "versions": nvml_lib.versions.chosen,
        }

    print(json.dumps({
        "default": run(False), "resident": run(True), "busy": run(True, util=70)
    }))
"""


@pytest.mark.parametrize(
    ("variant", "versions", "memory"),
    [
        ("current", {"memory": 2, "compute": 3, "graphics": 3}, [2 * GIB, 2**20]),
        ("no_v3", {"memory": 1, "compute": 2, "graphics": 2}, [2 * GIB + 2**20, 0]),
        ("v1_only", {"memory": 1, "compute": 1, "graphics": 1}, [2 * GIB + 2**20, 0]),
    ],
)
def test_old_drivers_fall_back_and_the_policy_still_decides(
    scenario: Scenario, variant: str, versions: dict[str, int], memory: list[int]
) -> None:
    result = run_variant(variant, scenario, OLD_DRIVER)
    default, resident, busy = result["default"], result["resident"], result["busy"]
    for each in (default, resident, busy):
        assert each["versions"] == versions
        assert each["memory"] == memory
    # Processes found through the fallback calls: busy by default, idle with the option.
    assert not default["ever_idle"]
    verdict, value = default["signals"]["gpu0.processes"]
    assert verdict == "busy" and "4242 ? 2048 MiB" in value and "4343 ? 1 MiB" in value
    assert resident["last_idle"]
    assert resident["signals"]["gpu0.processes"][0] == "idle"
    assert not busy["ever_idle"]
    assert busy["signals"]["gpu0.utilisation"] == ["busy", "70%"]


async def test_the_daemon_reports_gpu_status_from_the_double(
    plane: FakeControlPlane, scenario: Scenario, nvml_library: Path, tmp_path: Path
) -> None:
    scenario.gpus[0].util = 80
    scenario.gpus[1].extra["compute"] = f"{HOLDER}:{2 * GIB}"
    scenario.write()
    agent = Agent("gpu-9", tmp_path / "agent", plane.address, "tjt_ok")
    agent.start({"LD_LIBRARY_PATH": str(nvml_library)})  # the scenario's path is inherited

    def status() -> dict[str, Any] | None:
        done = subprocess.run(
            [str(BIN / "torpor-agent"), "status", "--json", "--config", str(agent.config_path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            return None
        body: dict[str, Any] = json.loads(done.stdout)
        names = {s["name"] for s in body["signals"]}
        return body if {"gpu0.utilisation", "gpu1.processes"} <= names else None

    try:
        body = await asyncio.to_thread(wait_until, status, 20, "a status with the GPUs")
    finally:
        code = await asyncio.to_thread(agent.stop)
    signals = {s["name"]: s for s in body["signals"]}
    assert not body["idle"] and not body["stale"]
    assert (signals["gpu0.utilisation"]["verdict"], signals["gpu0.utilisation"]["value"]) == (
        "busy",
        "80%",
    )
    assert signals["gpu1.utilisation"]["verdict"] == "idle"
    assert signals["gpu1.processes"]["verdict"] == "busy"
    assert signals["gpu1.processes"]["value"].startswith(f"{HOLDER} ")
    assert code == 0
    assert "Traceback" not in agent.log()
    assert "no GPU poll yet" not in agent.log()  # no alert while NVML initialises
