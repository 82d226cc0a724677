"""AdminService messages for instances, snapshots, drains and join tokens (hosts and
events are in `convert.py`)."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message

from torpor.common.timestamps import to_timestamp, utc_now
from torpor.proto.v1 import admin_pb2

from ..identity.schemas import JoinTokenInfo
from ..instances.schemas import InstanceView, OperationView, SnapshotView
from ..operators.schemas import DrainView


def set_times(message: Message, **moments: datetime | None) -> None:
    """Sets each timestamp field that has a moment; unset ones stay unset ("never")."""
    for name, moment in moments.items():
        if moment is not None:
            getattr(message, name).CopyFrom(to_timestamp(moment))


def instance_to_proto(view: InstanceView) -> admin_pb2.Instance:
    message = admin_pb2.Instance(
        id=view.id,
        team_id=view.team_id,
        name=view.name,
        state=view.state,
        state_reason=view.state_reason,
        gpu_type=view.gpu_type,
        gpu_count=view.gpu_count,
        region=view.region,
        provider=view.provider,
        host_id=view.host_id or "",
        placement=view.placement,
        auto_hibernate=view.auto_hibernate,
        latest_snapshot_id=view.latest_snapshot_id or "",
        created_by=view.created_by,
    )
    set_times(
        message,
        state_changed_at=view.state_changed_at,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )
    if view.operation is not None:
        message.operation.CopyFrom(operation_to_proto(view.operation))
    return message


def operation_to_proto(view: OperationView) -> admin_pb2.Operation:
    message = admin_pb2.Operation(
        id=view.id, kind=view.kind, step=view.step, outcome=view.outcome or "", error=view.error
    )
    set_times(message, started_at=view.started_at, finished_at=view.finished_at)
    return message


def snapshot_to_proto(view: SnapshotView) -> admin_pb2.Snapshot:
    message = admin_pb2.Snapshot(
        id=view.id,
        instance_id=view.instance_id,
        team_id=view.team_id,
        kind=view.kind,
        keep_forever=view.keep_forever,
    )
    if view.bytes is not None:
        message.bytes = view.bytes
    if view.files is not None:
        message.files = view.files
    set_times(message, created_at=view.created_at)
    return message


def drain_to_proto(view: DrainView) -> admin_pb2.HostDrain:
    message = admin_pb2.HostDrain(
        host_id=view.host_id,
        draining=view.draining,
        started_by=view.started_by,
        moving_instance_ids=view.moving_instance_ids,
    )
    set_times(message, started_at=view.started_at, drained_at=view.drained_at)
    return message


def join_token_to_proto(info: JoinTokenInfo) -> admin_pb2.JoinToken:
    message = admin_pb2.JoinToken(
        id=info.id,
        note=info.note,
        used_by_host_id=info.used_by_host_id or "",
        status=info.status(utc_now()),
    )
    set_times(
        message,
        created_at=info.created_at,
        expires_at=info.expires_at,
        used_at=info.used_at,
        revoked_at=info.revoked_at,
    )
    return message
