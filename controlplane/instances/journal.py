"""The operations journal: each step of a multi-step operation is written before it acts.

Ids are deterministic (the agent command id is `<operation id>-<step>`, the provider's
request id is the operation id), so retrying a step after a crash or a restart asks the
agent or the provider for the same thing again, which both answer idempotently.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from torpor.common.timestamps import utc_now

from ..db.models import OperationRow

OPERATION_ID_PREFIX = "op-"
OK = "ok"
COMMAND_STEPS = ("snapshot", "restore", "configure", "assign")
"""Steps that send an agent a command (its id is recorded with the step)."""
FAILED = "failed"


def new_operation(session: AsyncSession, instance_id: str, kind: str, step: str) -> OperationRow:
    ident = OPERATION_ID_PREFIX + secrets.token_hex(8)
    row = OperationRow(
        id=ident,
        instance_id=instance_id,
        kind=kind,
        step=step,
        request_id=ident,
        details={},
        started_at=utc_now(),
        error="",
    )
    session.add(row)
    return row


def command_id(operation: OperationRow, step: str) -> str:
    return f"{operation.id}-{step}"


def advance(operation: OperationRow, step: str, **details: Any) -> None:
    """Records that `step` is about to run (and what the earlier steps produced)."""
    operation.step = step
    if step in COMMAND_STEPS:
        operation.command_id = command_id(operation, step)
    if details:
        operation.details = {**(operation.details or {}), **details}


def finish(operation: OperationRow, outcome: str, error: str = "") -> None:
    operation.step, operation.outcome, operation.error = "done", outcome, error
    operation.finished_at = utc_now()


async def load(session: AsyncSession, operation_id: str) -> OperationRow:
    row = await session.get(OperationRow, operation_id, with_for_update=True)
    if row is None:
        raise LookupError(f"operation {operation_id} vanished from the journal")
    return row


async def current(session: AsyncSession, instance_id: str) -> OperationRow | None:
    """The instance's unfinished operation, if any."""
    return await session.scalar(
        select(OperationRow)
        .where(OperationRow.instance_id == instance_id, OperationRow.finished_at.is_(None))
        .order_by(OperationRow.started_at.desc())
        .limit(1)
    )


async def unfinished(session: AsyncSession) -> list[OperationRow]:
    """Every operation a restart must resume or roll back, oldest first."""
    rows = await session.scalars(
        select(OperationRow)
        .where(OperationRow.finished_at.is_(None))
        .order_by(OperationRow.started_at)
    )
    return list(rows)
