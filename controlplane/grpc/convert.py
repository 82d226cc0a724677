"""Translations between the wire (torpor.v1 messages) and the domain's plain data."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from torpor.common.timestamps import from_timestamp, to_timestamp
from torpor.common.version import torpor_version
from torpor.proto.v1 import admin_pb2, agent_pb2, common_pb2

from ..events.schemas import Event, Severity
from ..fleet.schemas import (
    Action,
    Assign,
    Assignment,
    Command,
    CommandResult,
    Fence,
    HeartbeatPolicy,
    Hello,
    Hibernate,
    HostState,
    HostView,
    Ping,
    Prefetch,
    Restore,
    SetIdlePolicy,
)
from ..fleet.stream import Outbound
from ..repository_keys.secret import RepositoryKey
from .messages import dict_to_message, message_to_dict

_SEVERITY_TO_PROTO: dict[Severity, common_pb2.Severity.ValueType] = {
    "info": common_pb2.SEVERITY_INFO,
    "warning": common_pb2.SEVERITY_WARNING,
    "error": common_pb2.SEVERITY_ERROR,
}
_STATE_TO_PROTO: dict[HostState, admin_pb2.HostState.ValueType] = {
    "connected": admin_pb2.HOST_STATE_CONNECTED,
    "disconnected": admin_pb2.HOST_STATE_DISCONNECTED,
    "released": admin_pb2.HOST_STATE_RELEASED,
}


def hello_from_proto(hello: agent_pb2.Hello) -> Hello:
    return Hello(
        host_id=hello.host_id,
        hostname=hello.hostname,
        agent_version=hello.agent_version,
        os=hello.os,
        labels=dict(hello.labels),
        gpus=[message_to_dict(gpu) for gpu in hello.gpus],
        booted_at=from_timestamp(hello.booted_at) if hello.HasField("booted_at") else None,
        assignment=assignment_from_proto(hello.assignment)
        if hello.HasField("assignment")
        else None,
    )


def assignment_from_proto(message: agent_pb2.Assignment) -> Assignment:
    """What an agent says it holds; a repository key it echoes back is not read (the
    control plane's own copy is the only one that counts)."""
    return Assignment(
        instance_id=message.instance_id,
        epoch=message.epoch,
        repository=message.repository,
        fence_after_s=message.fence_after_ms / 1000,
        fenced=message.fenced,
    )


def assignment_to_proto(assignment: Assignment) -> agent_pb2.Assignment:
    return agent_pb2.Assignment(
        instance_id=assignment.instance_id,
        epoch=assignment.epoch,
        repository=assignment.repository,
        fence_after_ms=round(assignment.fence_after_s * 1000),
        repository_key=key_bytes(assignment.repository_key),
    )


def key_bytes(key: RepositoryKey | None) -> bytes:
    """A repository key as the wire carries it: empty bytes for none (unencrypted)."""
    return key.reveal() if key is not None else b""


def telemetry_to_dict(telemetry: common_pb2.Telemetry) -> dict[str, Any]:
    return message_to_dict(telemetry)


def event_from_proto(event: common_pb2.Event) -> Event:
    severity: Severity = next(
        (name for name, value in _SEVERITY_TO_PROTO.items() if value == event.severity), "info"
    )
    fields: dict[str, Any] = {}
    if event.id:
        fields["event_id"] = event.id
    if event.HasField("at"):
        fields["at"] = from_timestamp(event.at)
    return Event(
        kind=event.kind or "agent.event",
        message=event.message,
        host_id=event.host_id or None,
        severity=severity,
        attributes=dict(event.attributes),
        **fields,
    )


def event_to_proto(event: Event) -> common_pb2.Event:
    return common_pb2.Event(
        id=event.event_id,
        at=to_timestamp(event.at),
        severity=_SEVERITY_TO_PROTO[event.severity],
        kind=event.kind,
        message=event.message,
        host_id=event.host_id or "",
        attributes=event.attributes,
        seq=event.seq,
    )


def command_result_from_proto(result: agent_pb2.CommandResult) -> CommandResult:
    return CommandResult(
        command_id=result.command_id,
        ok=result.ok,
        error=result.error,
        outputs=dict(result.outputs),
        snapshot_id=result.snapshot_id,
        fenced=result.fenced,
    )


def policy_to_proto(policy: HeartbeatPolicy) -> agent_pb2.HeartbeatPolicy:
    return agent_pb2.HeartbeatPolicy(
        interval_ms=round(policy.interval_s * 1000),
        ttl_ms=round(policy.ttl_s * 1000),
        grace_ms=round(policy.grace_s * 1000),
    )


def welcome(
    host_id: str,
    policy: HeartbeatPolicy,
    idle_policy: dict[str, Any] | None = None,
    assignment: Assignment | None = None,
) -> agent_pb2.ControlMessage:
    message = agent_pb2.Welcome(
        host_id=host_id, server_version=torpor_version(), heartbeat=policy_to_proto(policy)
    )
    if idle_policy:
        message.idle_policy.CopyFrom(idle_policy_to_proto(idle_policy))
    if assignment is not None:
        message.assignment.CopyFrom(assignment_to_proto(assignment))
    return agent_pb2.ControlMessage(welcome=message)


def outbound_to_proto(item: Outbound) -> agent_pb2.ControlMessage:
    if isinstance(item, HeartbeatPolicy):
        return agent_pb2.ControlMessage(heartbeat=policy_to_proto(item))
    return agent_pb2.ControlMessage(command=command_to_proto(item))


def command_to_proto(command: Command) -> agent_pb2.Command:
    message = agent_pb2.Command(
        id=command.id, issued_at=to_timestamp(command.issued_at), epoch=command.epoch
    )
    kind, payload = _payload(command.action)
    getattr(message, kind).CopyFrom(payload)
    return message


def _payload(action: Action) -> tuple[str, Message]:  # noqa: PLR0911 (one return per kind)
    """The Command oneof's field name and message for `action` (set even when all-default)."""
    if isinstance(action, Ping):
        return "ping", agent_pb2.Ping(payload=action.payload)
    if isinstance(action, Hibernate):
        hibernate = agent_pb2.Hibernate(reason=action.reason)
        if action.grace_s is not None:
            hibernate.grace_s = action.grace_s
        return "hibernate", hibernate
    if isinstance(action, Restore):
        return "restore", agent_pb2.Restore(
            snapshot_id=action.snapshot_id,
            repository=action.repository,
            repository_key=key_bytes(action.repository_key),
        )
    if isinstance(action, Prefetch):
        return "prefetch", agent_pb2.Prefetch(
            repository=action.repository,
            snapshot_ids=action.snapshot_ids,
            repository_key=key_bytes(action.repository_key),
            instance_id=action.instance_id,
            require_encrypted=action.require_encrypted,
        )
    if isinstance(action, Assign):
        return "assign", agent_pb2.Assign(assignment=assignment_to_proto(action.assignment))
    if isinstance(action, Fence):
        return "fence", agent_pb2.Fence(reason=action.reason, epoch=action.epoch)
    if isinstance(action, SetIdlePolicy):
        return "set_idle_policy", agent_pb2.SetIdlePolicy(
            policy=idle_policy_to_proto(action.policy)
        )
    return "take_snapshot", agent_pb2.TakeSnapshot(
        reason=action.reason, keep_forever=action.keep_forever
    )


def idle_policy_to_proto(policy: dict[str, Any]) -> agent_pb2.IdlePolicyOverride:
    """Unset fields stay unset (the agent's own value applies)."""
    values = {k: v for k, v in policy.items() if v is not None and k != "process_allow_list"}
    message = agent_pb2.IdlePolicyOverride(**values)
    names = policy.get("process_allow_list")
    if names is not None:
        message.process_allow_list.names.extend(names)
    return message


def state_from_proto(state: admin_pb2.HostState.ValueType) -> HostState | None:
    return next((name for name, value in _STATE_TO_PROTO.items() if value == state), None)


def host_to_proto(host: HostView) -> admin_pb2.Host:
    message = admin_pb2.Host(
        id=host.id,
        hostname=host.hostname,
        state=_STATE_TO_PROTO[host.state],
        agent_version=host.agent_version,
        os=host.os,
        labels=host.labels,
        joined_at=to_timestamp(host.joined_at),
    )
    for name in (
        "last_heartbeat_at",
        "connected_at",
        "disconnected_at",
        "draining_since",
        "drained_at",
    ):
        moment = getattr(host, name)
        if moment is not None:
            getattr(message, name).CopyFrom(to_timestamp(moment))
    for gpu in host.gpus:
        dict_to_message(gpu, message.gpus.add())
    if host.telemetry is not None:
        dict_to_message(host.telemetry, message.telemetry)
    return message
