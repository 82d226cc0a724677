"""The psutil host probe gives sane numbers."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from torpor.agent.telemetry.host import HostProbe, boot_time, os_description

pytestmark = pytest.mark.unit


def test_sample_fields_are_sane(tmp_path: Path) -> None:
    probe = HostProbe(tmp_path)
    sample = probe.sample()
    assert sample.cpu_count >= 1
    assert 0 <= sample.cpu_percent <= 100
    assert sample.load1 >= 0
    assert sample.memory_total_bytes > 0
    assert 0 < sample.memory_available_bytes <= sample.memory_total_bytes
    assert sample.memory_used_bytes <= sample.memory_total_bytes
    assert sample.disk_path == str(tmp_path)
    assert sample.disk_total_bytes > 0
    assert sample.disk_free_bytes <= sample.disk_total_bytes
    assert sample.uptime_s > 0


def test_two_samples_give_non_negative_rates(tmp_path: Path) -> None:
    probe = HostProbe(tmp_path)
    first = probe.sample()
    time.sleep(0.05)
    second = probe.sample()
    assert second.net_rx_bytes >= first.net_rx_bytes
    assert second.net_rx_bytes_per_s >= 0
    assert second.net_tx_bytes_per_s >= 0


def test_rates_use_the_clock_between_samples(tmp_path: Path) -> None:
    ticks = iter([0.0, 0.0, 0.0])
    probe = HostProbe(tmp_path, clock=lambda: next(ticks))
    sample = probe.sample()  # no time passed: no rate rather than a division by zero
    assert (sample.net_rx_bytes_per_s, sample.net_tx_bytes_per_s) == (0.0, 0.0)


def test_hello_facts() -> None:
    assert boot_time() < datetime.now(UTC)
    assert os_description().split()[0] == "Linux"
