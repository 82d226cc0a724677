"""Wire <-> domain translations keep numbers numbers and "not available" absent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from torpor.common.timestamps import to_timestamp
from torpor.controlplane.events.schemas import Event
from torpor.controlplane.fleet.schemas import (
    Action,
    Command,
    HeartbeatPolicy,
    Hibernate,
    HostView,
    Ping,
    Restore,
    TakeSnapshot,
)
from torpor.controlplane.grpc import convert
from torpor.proto.v1 import admin_pb2, agent_pb2, common_pb2

pytestmark = pytest.mark.unit
AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def telemetry() -> common_pb2.Telemetry:
    return common_pb2.Telemetry(
        at=to_timestamp(AT),
        host=common_pb2.HostTelemetry(cpu_percent=12.5, memory_total_bytes=2**40),
        gpus=[common_pb2.GpuTelemetry(uuid="GPU-1", utilization_percent=0.0)],
    )


def test_telemetry_round_trips_through_its_stored_form() -> None:
    stored = convert.telemetry_to_dict(telemetry())
    assert stored["host"]["memory_total_bytes"] == 2**40  # a number, not a string
    assert stored["gpus"][0]["utilization_percent"] == 0.0  # a real zero is kept
    assert "power_watts" not in stored["gpus"][0]  # not available stays absent
    assert stored["at"] == "2025-01-02T03:04:05Z"
    view = HostView(
        id="h-1",
        hostname="a",
        state="connected",
        agent_version="1",
        os="Linux",
        labels={},
        gpus=[],
        joined_at=AT,
        connected_at=AT,
        disconnected_at=None,
        last_heartbeat_at=None,
        telemetry=stored,
    )
    host = convert.host_to_proto(view)
    assert host.telemetry == telemetry()
    assert host.state == admin_pb2.HOST_STATE_CONNECTED
    assert not host.HasField("last_heartbeat_at")


def test_hello_and_policy() -> None:
    hello = convert.hello_from_proto(
        agent_pb2.Hello(host_id="h-1", gpus=[common_pb2.GpuInfo(uuid="GPU-1", index=0)])
    )
    assert hello.gpus == [
        {
            "uuid": "GPU-1",
            "index": 0,
            "name": "",
            "memory_total_bytes": 0,
            "is_mig": False,
            "parent_uuid": "",
        }
    ]
    assert hello.booted_at is None
    policy = convert.policy_to_proto(HeartbeatPolicy(5, 10, 0.25))
    assert (policy.interval_ms, policy.ttl_ms, policy.grace_ms) == (5000, 10000, 250)


def test_events_keep_their_identity_and_severity() -> None:
    event = convert.event_from_proto(
        common_pb2.Event(id="e1", kind="agent.stopping", severity=common_pb2.SEVERITY_WARNING)
    )
    assert (event.event_id, event.severity) == ("e1", "warning")
    wire = convert.event_to_proto(Event("host.lost", "gone", host_id="h-1", seq=7, at=AT))
    assert (wire.seq, wire.host_id, wire.severity) == (7, "h-1", common_pb2.SEVERITY_INFO)


@pytest.mark.parametrize(
    ("action", "kind", "fields"),
    [
        (Ping("x"), "ping", {"payload": "x"}),
        (Hibernate(), "hibernate", {}),  # all defaults: still a Hibernate
        (Hibernate("idle", grace_s=0), "hibernate", {"reason": "idle", "grace_s": 0}),
        (Restore("abc123"), "restore", {"snapshot_id": "abc123"}),
        (TakeSnapshot("nightly", keep_forever=True), "take_snapshot", {"keep_forever": True}),
    ],
)
def test_every_command_kind_reaches_the_wire(action: Action, kind: str, fields: dict) -> None:
    message = convert.command_to_proto(Command(action, id="c-1"))
    assert message.id == "c-1" and message.WhichOneof("kind") == kind
    payload = getattr(message, kind)
    for name, value in fields.items():
        assert getattr(payload, name) == value
    if kind == "hibernate":
        assert payload.HasField("grace_s") == ("grace_s" in fields)


def test_a_command_result_keeps_the_snapshot_id() -> None:
    result = convert.command_result_from_proto(
        agent_pb2.CommandResult(
            command_id="c", ok=True, snapshot_id="s" * 64, outputs={"files": "3"}
        )
    )
    assert result.snapshot_id == "s" * 64 and result.outputs == {"files": "3"}
