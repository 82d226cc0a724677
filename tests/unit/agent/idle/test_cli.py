"""`torpor-agent inhibit` and `torpor-agent status` against a state directory."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from torpor.agent.cli import main
from torpor.agent.idle.decision import Decision, SignalStatus
from torpor.agent.idle.explain import write_status
from torpor.agent.idle.verdict import Verdict

pytestmark = pytest.mark.unit


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n')
    return path


def test_inhibit_list_and_release(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inhibit", "--for", "2h", "--why", "long eval", "--config", str(config)]) == 0
    created = capsys.readouterr().out
    inhibitor_id = created.split()[0]
    assert inhibitor_id.startswith("inh-")
    assert "holds this machine up until" in created
    assert main(["inhibit", "--list", "--config", str(config)]) == 0
    listed = capsys.readouterr().out
    assert inhibitor_id in listed
    assert "long eval" in listed
    assert main(["inhibit", "--release", inhibitor_id, "--config", str(config)]) == 0
    assert main(["inhibit", "--release", inhibitor_id, "--config", str(config)]) == 1
    assert main(["inhibit", "--list", "--config", str(config)]) == 0
    assert "long eval" not in capsys.readouterr().out.split("released")[-1]


@pytest.mark.parametrize("text", ["2x", "0s", "soon", "-5m"])
def test_bad_durations_are_refused(config: Path, text: str) -> None:
    with pytest.raises(SystemExit):
        main(["inhibit", "--for", text, "--why", "x", "--config", str(config)])


def test_status_without_a_running_agent(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--config", str(config)]) == 69
    assert "the agent is not running" in capsys.readouterr().out


def _decision(idle_for_s: float) -> Decision:
    return Decision(
        idle=False,
        window_s=900,
        signals=[
            SignalStatus("gpu0.utilisation", "0%", Verdict.IDLE, idle_for_s),
            SignalStatus("gpu0.energy", "-", Verdict.NOT_SUPPORTED, None, "not supported"),
        ],
        hibernate_in_s=900 - idle_for_s,
    )


def test_status_prints_the_table_and_the_time_left(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_status(config.parent / "state", _decision(150), time.time(), 1.0)
    assert main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["SIGNAL", "VALUE", "VERDICT", "IDLE", "FOR", "NEEDED"]
    assert "gpu0.utilisation  0%     idle" in out
    assert "2m 30s" in out
    assert "not supported" in out
    assert "left out" in out
    assert out.rstrip().endswith("hibernation in 12m 30s")


def test_status_names_the_busy_signal(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    busy = Decision(
        False, 900, [SignalStatus("gpu0.utilisation", "37%", Verdict.BUSY, None, "")], None
    )
    write_status(config.parent / "state", busy, time.time(), 1.0)
    main(["status", "--config", str(config)])
    assert capsys.readouterr().out.rstrip().endswith("not idle: gpu0.utilisation 37% (busy)")


def test_status_json_and_staleness(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_status(config.parent / "state", _decision(10), time.time() - 60, 1.0)
    assert main(["status", "--json", "--config", str(config)]) == 69
    body = json.loads(capsys.readouterr().out)
    assert body["stale"] is True
    assert body["signals"][0]["verdict"] == "idle"
    assert main(["status", "--config", str(config)]) == 69
    assert "is the agent running?" in capsys.readouterr().out
