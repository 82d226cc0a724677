"""The idle policy over the real signals, scripted sources and a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.idle import Rig, gpu, process
from torpor.agent.gpu.model import Reading
from torpor.agent.idle.explain import summary
from torpor.agent.idle.probes import NOT_YET
from torpor.agent.idle.sessions import Terminal
from torpor.agent.idle.verdict import Verdict
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.unit

WINDOW_S = 60


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_idle_only_after_the_whole_window(rig: Rig) -> None:
    first = rig.poll()  # counters have no delta yet: unknown, so busy
    assert not first.idle
    decisions = rig.run_for(WINDOW_S + 1)  # idle from the second poll on
    assert not any(d.idle for d in decisions[:-1])
    assert decisions[-2].hibernate_in_s == pytest.approx(1)
    assert decisions[-1].idle
    assert decisions[-1].hibernate_in_s == 0
    assert all(s.verdict is Verdict.IDLE for s in decisions[-1].signals)


def test_busy_gpus_are_never_idle(rig: Rig) -> None:
    rig.probe.gpus = [gpu(0, utilization_samples=Reading.of([40.0, 55.0])), gpu(1)]
    decisions = rig.run_for(3 * WINDOW_S)
    assert not any(d.idle for d in decisions)
    last = decisions[-1]
    assert rig.signal(last, "gpu0.utilisation").verdict is Verdict.BUSY
    assert rig.signal(last, "gpu1.utilisation").verdict is Verdict.IDLE
    assert "gpu0.utilisation 55% (busy" in summary(last)


def test_a_process_holding_memory_is_busy_by_default(rig: Rig) -> None:
    rig.probe.gpus = [gpu(0, processes=Reading.of([process(4242, "server")]))]
    decisions = rig.run_for(2 * WINDOW_S)
    assert not any(d.idle for d in decisions)
    status = rig.signal(decisions[-1], "gpu0.processes")
    assert status.verdict is Verdict.BUSY
    assert "4242 server 2048 MiB" in status.value


def test_a_resident_inactive_process_is_idle_with_the_option(tmp_path: Path) -> None:
    rig = Rig(tmp_path, resident_inactive_is_idle=True)
    rig.probe.gpus = [gpu(0, processes=Reading.of([process(4242, "server")]))]
    assert rig.run_for(WINDOW_S + 2)[-1].idle


def test_allow_listed_processes_do_not_count(rig: Rig) -> None:
    rig.probe.gpus = [gpu(0, processes=Reading.of([process(7, "nvidia-persistenced")]))]
    assert rig.run_for(WINDOW_S + 2)[-1].idle


def test_a_two_second_burst_between_polls_is_seen(rig: Rig) -> None:
    rig.run_for(WINDOW_S / 2)
    # Polls every 1 s; the driver buffered a 2 s burst across two polls' samples.
    rig.probe.gpus = [gpu(0, utilization_samples=Reading.of([0.0, 0.0, 95.0, 90.0]))]
    burst = rig.poll()
    rig.probe.gpus = [gpu(0, utilization_samples=Reading.of([88.0, 0.0, 0.0]))]
    rig.poll()
    rig.probe.gpus = [gpu(0)]
    assert not burst.idle
    decisions = rig.run_for(WINDOW_S + 1)
    assert not any(d.idle for d in decisions[:-1])
    assert decisions[-1].idle  # a full window after the burst


def test_energy_catches_work_the_samples_missed(rig: Rig) -> None:
    rig.run_for(WINDOW_S / 2)
    rig.probe.watts["GPU-0000"] = 350.0
    decision = rig.poll()
    rig.probe.watts["GPU-0000"] = 60.0
    assert rig.signal(decision, "gpu0.energy").verdict is Verdict.BUSY
    assert not any(d.idle for d in rig.run_for(WINDOW_S - 1))


def test_an_injected_error_is_busy_and_alerts_once(rig: Rig) -> None:
    rig.run_for(WINDOW_S + 2)
    rig.probe.error = "NVML_ERROR_UNKNOWN"
    decisions = rig.run_for(5)
    assert not any(d.idle for d in decisions)
    assert [a.name for a in decisions[0].alerts] == ["gpu"]
    assert "NVML_ERROR_UNKNOWN" in decisions[0].alerts[0].detail
    assert all(not d.alerts for d in decisions[1:])


def test_a_probe_that_raises_is_busy(rig: Rig) -> None:
    rig.probe.raises = RuntimeError("bug")
    decision = rig.run_for(WINDOW_S + 2)[-1]
    assert not decision.idle
    assert rig.signal(decision, "gpu").verdict is Verdict.UNKNOWN


def test_a_lost_gpu_is_busy_and_alerts(rig: Rig) -> None:
    rig.probe.gpus = [gpu(0), gpu(1)]
    rig.run_for(WINDOW_S + 2)
    rig.probe.gpus = [gpu(0)]
    decisions = rig.run_for(2 * WINDOW_S)
    assert not any(d.idle for d in decisions)
    assert [a.name for a in decisions[0].alerts] == ["gpu1"]
    assert "GPU-0001 is lost" in rig.signal(decisions[-1], "gpu1").detail


def test_a_failed_reading_is_unknown_hence_busy(rig: Rig) -> None:
    failed = Reading[list[float]].failed("NVML_ERROR_GPU_IS_LOST")
    rig.probe.gpus = [gpu(0, utilization_samples=failed)]
    decision = rig.run_for(WINDOW_S + 2)[-1]
    assert not decision.idle
    assert rig.signal(decision, "gpu0.utilisation").verdict is Verdict.UNKNOWN


def test_a_not_supported_signal_is_left_out(rig: Rig) -> None:
    rig.probe.gpus = [
        gpu(
            0,
            energy_millijoules=Reading[int].not_supported("NVML_ERROR_NOT_SUPPORTED"),
            memory_utilization_percent=Reading[float].not_supported(),
        )
    ]
    decision = rig.run_for(WINDOW_S + 2)[-1]
    assert decision.idle
    energy = rig.signal(decision, "gpu0.energy")
    assert energy.verdict is Verdict.NOT_SUPPORTED
    assert energy.idle_for_s is None


def test_host_cpu_and_network_keep_it_busy(rig: Rig) -> None:
    rig.host.cpu_percent = 50
    assert not any(d.idle for d in rig.run_for(WINDOW_S + 2))
    rig.host.cpu_percent = 1
    rig.host.net_bytes_per_s = 10_000_000
    decision = rig.run_for(WINDOW_S + 2)[-1]
    assert rig.signal(decision, "host.network").verdict is Verdict.BUSY


def test_a_held_inhibitor_is_busy_and_an_expired_one_is_ignored(rig: Rig) -> None:
    rig.run_for(WINDOW_S + 2)
    rig.sources.inhibitors.add("long eval", 30, rig.clock.wall(), who="ana")
    decision = rig.poll()
    assert not decision.idle
    assert "'long eval' by ana" in rig.signal(decision, "inhibitors").detail
    decisions = rig.run_for(WINDOW_S + 31)
    assert rig.signal(decisions[27], "inhibitors").verdict is Verdict.BUSY  # 29 s after
    assert rig.signal(decisions[28], "inhibitors").verdict is Verdict.IDLE  # 30 s: expired
    assert decisions[-1].idle
    assert rig.sources.inhibitors.active(rig.clock.wall()) == []


def test_an_active_ssh_session_is_busy_an_idle_one_is_not(rig: Rig) -> None:
    rig.terminals.append(Terminal("ana", "pts/1", "10.0.0.9"))
    rig.last_input["pts/1"] = rig.clock.wall() - 3600
    assert rig.run_for(WINDOW_S + 2)[-1].idle
    rig.clock.advance(10)
    rig.last_input["pts/1"] = rig.clock.wall()  # a keystroke
    decisions = rig.run_for(WINDOW_S)
    assert not any(d.idle for d in decisions[:-2])
    assert "ana@10.0.0.9" in rig.signal(decisions[0], "sessions.ssh").value


def test_a_busy_jupyter_kernel_is_busy(rig: Rig) -> None:
    rig.kernels = [_kernel("k1", "busy", rig.clock.wall())]
    decision = rig.run_for(WINDOW_S + 2)[-1]
    assert not decision.idle
    assert rig.signal(decision, "sessions.jupyter").verdict is Verdict.BUSY


def test_an_idle_kernel_holding_a_gpu_is_idle_after_the_window(rig: Rig) -> None:
    """The forgotten notebook: its GPU context does not keep the machine up."""
    rig.kernels = [_kernel("k1", "idle", rig.clock.wall() - 10)]
    rig.kernel_pids[555] = "k1"
    rig.probe.gpus = [gpu(0, processes=Reading.of([process(555, "python")]))]
    decisions = rig.run_for(WINDOW_S + 2)
    assert decisions[-1].idle
    assert rig.signal(decisions[-1], "gpu0.processes").verdict is Verdict.IDLE
    rig.kernels = [_kernel("k1", "busy", rig.clock.wall())]
    assert rig.signal(rig.poll(), "gpu0.processes").verdict is Verdict.BUSY


def test_a_kernel_active_recently_holds_the_window(rig: Rig) -> None:
    rig.run_for(5)
    rig.kernels = [_kernel("k1", "idle", rig.clock.wall() - 1)]
    decisions = rig.run_for(WINDOW_S - 3)
    assert not decisions[-1].idle
    assert rig.run_for(3)[-1].idle


def test_an_override_changes_the_window(rig: Rig) -> None:
    rig.monitor.apply_override(agent_pb2.IdlePolicyOverride(window_s=10))
    assert rig.run_for(12)[-1].idle
    assert rig.monitor.settings.gpu_util_threshold_percent == 5


def _kernel(kernel_id: str, state: str, last_wall: float) -> dict[str, str]:
    last = datetime.fromtimestamp(last_wall, UTC).isoformat().replace("+00:00", "Z")
    return {"id": kernel_id, "execution_state": state, "last_activity": last}


def test_no_gpu_poll_yet_is_busy_without_an_alert(rig: Rig) -> None:
    rig.probe.error = NOT_YET  # the agent's GPU poller has not finished its first poll
    waiting = rig.poll()
    assert not waiting.idle and not waiting.alerts
    assert rig.signal(waiting, "gpu").verdict is Verdict.UNKNOWN
    rig.probe.error = "NVML_ERROR_DRIVER_NOT_LOADED"  # a real failure right after still alerts
    failed = rig.poll()
    assert [a.name for a in failed.alerts] == ["gpu"]
