"""torporctl's rendering: what an operator reads and what a script parses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from torpor.common.timestamps import to_timestamp
from torpor.ctl import output
from torpor.proto.v1 import admin_pb2, common_pb2

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def test_table_aligns_columns_and_trims_the_last() -> None:
    text = output.table(("ID", "NAME"), [("h-1", "alpha"), ("h-22222", "b")])
    assert text.splitlines() == ["ID       NAME", "h-1      alpha", "h-22222  b"]


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        (timedelta(seconds=4), "4s ago"),
        (timedelta(minutes=3, seconds=5), "3m ago"),
        (timedelta(hours=2), "2h ago"),
        (timedelta(days=5), "5d ago"),
    ],
)
def test_age_in_the_largest_whole_unit(ago: timedelta, expected: str) -> None:
    assert output.age(to_timestamp(NOW - ago), now=NOW) == expected


def test_unset_timestamp_shows_a_dash() -> None:
    assert output.age(admin_pb2.Host().last_heartbeat_at, now=NOW) == "-"


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (80 * 2**30, "80.0 GiB")],
)
def test_sizes_in_binary_units(count: int, expected: str) -> None:
    assert output.size(count) == expected


def _host() -> admin_pb2.Host:
    host = admin_pb2.Host(
        id="h-1", hostname="gpu-01", state=admin_pb2.HOST_STATE_CONNECTED, agent_version="0.1.0"
    )
    host.telemetry.host.cpu_percent = 12.4
    host.telemetry.host.memory_total_bytes = 2**34
    host.telemetry.host.memory_used_bytes = 2**33
    host.gpus.add(uuid="GPU-1", index=0, name="NVIDIA H100", memory_total_bytes=80 * 2**30)
    return host


def test_hosts_table_shows_state_load_and_gpus() -> None:
    lines = output.hosts_table([_host()]).splitlines()
    assert lines[0].split()[:3] == ["ID", "HOSTNAME", "STATE"]
    assert lines[1].split()[:3] == ["h-1", "gpu-01", "connected"]
    assert "12%" in lines[1] and "8.0 GiB / 16.0 GiB" in lines[1]


def test_host_without_telemetry_shows_dashes() -> None:
    host = admin_pb2.Host(id="h-2", hostname="b", state=admin_pb2.HOST_STATE_DISCONNECTED)
    assert output.hosts_table([host]).splitlines()[1].split()[2:5] == ["disconnected", "-", "-"]


def test_host_details_list_gpus() -> None:
    text = output.host_details(_host())
    assert "hostname        gpu-01" in text and "NVIDIA H100" in text


def test_json_uses_proto_field_names() -> None:
    parsed = json.loads(output.as_json([_host()]))
    assert parsed[0]["hostname"] == "gpu-01"
    assert parsed[0]["state"] == "HOST_STATE_CONNECTED"


def test_event_line() -> None:
    event = common_pb2.Event(
        kind="host.connected",
        host_id="h-1",
        message="gpu-01 connected",
        severity=common_pb2.SEVERITY_INFO,
        at=to_timestamp(NOW),
    )
    assert output.event_line(event).split()[:5] == [
        "2026-11-24",
        "12:00:00",
        "info",
        "host.connected",
        "h-1",
    ]
