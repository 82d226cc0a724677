"""Rendering for people (aligned tables) and for scripts (`--output json`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from torpor.proto.v1 import admin_pb2, common_pb2

STATE_NAMES = {
    admin_pb2.HOST_STATE_CONNECTED: "connected",
    admin_pb2.HOST_STATE_DISCONNECTED: "disconnected",
    admin_pb2.HOST_STATE_RELEASED: "released",
}


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def as_json(messages: Message | Sequence[Message]) -> str:
    """Proto3 JSON mapping, with field names as in the .proto files."""
    if isinstance(messages, Message):
        return json.dumps(_to_dict(messages), indent=2)
    return json.dumps([_to_dict(m) for m in messages], indent=2)


def as_json_line(message: Message) -> str:
    """One message as one line (JSON Lines), for streams like `watch`."""
    return json.dumps(_to_dict(message))


def _to_dict(message: Message) -> dict[str, object]:
    return MessageToDict(message, preserving_proto_field_name=True)


def age(stamp: Timestamp, now: datetime | None = None) -> str:
    """'4s ago', '3m ago', '2h ago', '5d ago', or '-' for an unset timestamp."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        return "-"
    seconds = ((now or datetime.now(UTC)) - stamp.ToDatetime(tzinfo=UTC)).total_seconds()
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def size(count: int) -> str:
    """Bytes in binary units with one decimal: '1.5 GiB'."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def host_state(host: admin_pb2.Host) -> str:
    """'connected', or 'connected, draining' / 'disconnected, drained'."""
    state = STATE_NAMES.get(host.state, "unknown")
    if host.HasField("drained_at"):
        return f"{state}, drained"
    return f"{state}, draining" if host.HasField("draining_since") else state


def hosts_table(hosts: Sequence[admin_pb2.Host]) -> str:
    headers = ("ID", "HOSTNAME", "STATE", "LAST HEARTBEAT", "CPU", "MEMORY", "GPUS", "AGENT")
    return table(headers, [_host_row(host) for host in hosts])


def _host_row(host: admin_pb2.Host) -> tuple[str, ...]:
    load = host.telemetry.host
    has_telemetry = host.HasField("telemetry")
    return (
        host.id,
        host.hostname,
        host_state(host),
        age(host.last_heartbeat_at),
        f"{load.cpu_percent:.0f}%" if has_telemetry else "-",
        f"{size(load.memory_used_bytes)} / {size(load.memory_total_bytes)}"
        if has_telemetry
        else "-",
        str(len(host.gpus)),
        host.agent_version or "-",
    )


def host_details(host: admin_pb2.Host) -> str:
    """Key/value lines for one host, then its GPUs."""
    load = host.telemetry.host
    pairs = [
        ("id", host.id),
        ("hostname", host.hostname),
        ("state", host_state(host)),
        ("agent", host.agent_version or "-"),
        ("os", host.os or "-"),
        ("joined", age(host.joined_at)),
        ("connected", age(host.connected_at)),
        ("disconnected", age(host.disconnected_at)),
        ("last heartbeat", age(host.last_heartbeat_at)),
        ("labels", ", ".join(f"{k}={v}" for k, v in sorted(host.labels.items())) or "-"),
    ]
    if host.HasField("telemetry"):
        pairs += [
            ("cpu", f"{load.cpu_percent:.1f}% of {load.cpu_count} cores, load {load.load1:.2f}"),
            ("memory", f"{size(load.memory_used_bytes)} / {size(load.memory_total_bytes)}"),
            (
                "disk",
                f"{size(load.disk_used_bytes)} / {size(load.disk_total_bytes)} on {load.disk_path}",
            ),
            (
                "network",
                f"rx {size(int(load.net_rx_bytes_per_s))}/s, "
                f"tx {size(int(load.net_tx_bytes_per_s))}/s",
            ),
        ]
    width = max(len(key) for key, _ in pairs)
    lines = [f"{key.ljust(width)}  {value}" for key, value in pairs]
    gpus = [(str(g.index), g.uuid, g.name, size(g.memory_total_bytes)) for g in host.gpus]
    if gpus:
        lines += ["", table(("GPU", "UUID", "NAME", "MEMORY"), gpus)]
    return "\n".join(lines)


SEVERITY_NAMES = {
    common_pb2.SEVERITY_INFO: "info",
    common_pb2.SEVERITY_WARNING: "warning",
    common_pb2.SEVERITY_ERROR: "error",
}


def event_line(event: common_pb2.Event) -> str:
    """One event per line: time, severity, kind, host, message."""
    at = event.at.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S")
    severity = SEVERITY_NAMES.get(event.severity, "-")
    return f"{at}  {severity:<7}  {event.kind:<20}  {event.host_id or '-':<18}  {event.message}"
