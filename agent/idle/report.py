"""Decisions and alerts as the wire contract's messages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from torpor.common.timestamps import to_timestamp, utc_now
from torpor.proto.v1 import agent_pb2, common_pb2

from .decision import Decision, SignalStatus
from .verdict import Verdict

VERDICTS = {
    Verdict.IDLE: agent_pb2.SIGNAL_VERDICT_IDLE,
    Verdict.BUSY: agent_pb2.SIGNAL_VERDICT_BUSY,
    Verdict.UNKNOWN: agent_pb2.SIGNAL_VERDICT_UNKNOWN,
    Verdict.NOT_SUPPORTED: agent_pb2.SIGNAL_VERDICT_NOT_SUPPORTED,
}


def idle_report(decision: Decision) -> agent_pb2.IdleReport:
    report = agent_pb2.IdleReport(
        idle=decision.idle,
        window_s=round(decision.window_s),
        signals=[_signal(s) for s in decision.signals],
    )
    if decision.idle_since_wall is not None:
        since = datetime.fromtimestamp(decision.idle_since_wall, UTC)
        report.idle_since.CopyFrom(to_timestamp(since))
    return report


def _signal(status: SignalStatus) -> agent_pb2.IdleSignal:
    return agent_pb2.IdleSignal(
        name=status.name,
        value=status.value,
        verdict=VERDICTS[status.verdict],
        idle_for_s=status.idle_for_s or 0.0,
        detail=status.detail,
    )


def alert_event(status: SignalStatus) -> common_pb2.Event:
    """A signal that became unreadable: the machine stays up, and an operator should know."""
    return common_pb2.Event(
        id=uuid.uuid4().hex,
        at=to_timestamp(utc_now()),
        severity=common_pb2.SEVERITY_WARNING,
        kind="idle.signal_unknown",
        message=f"{status.name} cannot be read ({status.detail}); counted as busy",
        attributes={"signal": status.name},
    )
