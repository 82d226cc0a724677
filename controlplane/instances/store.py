"""Reading and changing `instances` rows; every state change goes through `transition`."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from torpor.common.timestamps import utc_now

from ..db.models import InstanceRow, OperationRow
from ..errors import NotFound
from ..repository_keys.keyring import RepositoryKeyring
from ..savings.ledger import install_ledger_hook
from .schemas import InstanceSpec, InstanceView, OperationView, Page
from .states import INITIAL_STATE, Action, InstanceState, check

INSTANCE_ID_PREFIX = "i-"

install_ledger_hook()  # every state change below reaches the savings ledger at flush


def new_instance_id() -> str:
    return INSTANCE_ID_PREFIX + secrets.token_hex(8)


def _drop_unset(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def new_row(
    spec: InstanceSpec,
    provider: str,
    team_id: str,
    user_id: str,
    keys: RepositoryKeyring | None = None,
) -> InstanceRow:
    """A new instance's row, with a fresh repository secret sealed by `keys` (None: no
    secret, an unencrypted repository, as for instances made before repository keys)."""
    now = utc_now()
    ident = new_instance_id()
    return InstanceRow(
        id=ident,
        team_id=team_id,
        name=spec.name or ident,
        gpu_type=spec.gpu_type,
        gpu_count=spec.gpu_count,
        region=spec.region,
        provider=provider,
        state=INITIAL_STATE.value,
        state_reason="created",
        state_changed_at=now,
        state_seconds={},
        placement={},
        auto_hibernate=spec.auto_hibernate,
        idle_policy=_drop_unset(asdict(spec.idle_policy)),
        snapshot_schedule=_drop_unset(asdict(spec.snapshot_schedule)),
        created_by=user_id,
        created_at=now,
        updated_at=now,
        wrapped_repository_key=keys.new_wrapped(ident) if keys is not None else None,
    )


async def load(session: AsyncSession, instance_id: str, *, lock: bool = False) -> InstanceRow:
    """The live or deleted row; NotFound for an unknown id."""
    query = select(InstanceRow).where(InstanceRow.id == instance_id)
    if lock:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        raise NotFound(f"no instance {instance_id}", field="instance_id")
    return row


def transition(row: InstanceRow, action: Action, reason: str, now: datetime | None = None) -> None:
    """Moves the row by `action` (StateConflict if not allowed), keeping time per state."""
    target = check(action, InstanceState(row.state), row.id)
    now = now or utc_now()
    spent = dict(row.state_seconds or {})
    spent[row.state] = spent.get(row.state, 0.0) + (now - row.state_changed_at).total_seconds()
    row.state_seconds = spent
    row.state, row.state_reason, row.state_changed_at = target.value, reason, now
    row.updated_at = now
    if target is InstanceState.DELETED:
        row.deleted_at = now


def seconds_in_state(row: InstanceRow, now: datetime | None = None) -> dict[str, float]:
    """Total seconds per state, the current one counted up to `now`."""
    now = now or utc_now()
    spent = {str(k): float(v) for k, v in (row.state_seconds or {}).items()}
    current = (now - row.state_changed_at).total_seconds()
    spent[row.state] = spent.get(row.state, 0.0) + max(current, 0.0)
    return spent


async def page(
    session: AsyncSession,
    team_id: str | None,
    limit: int,
    offset: int,
    include_deleted: bool = False,
    *,
    states: list[str] | None = None,
) -> Page[InstanceView]:
    """Instances by creation order, of one team (None: every team), in `states` (None: any)."""
    query = select(InstanceRow)
    if team_id is not None:
        query = query.where(InstanceRow.team_id == team_id)
    if states is not None:
        query = query.where(InstanceRow.state.in_(states))
    if not include_deleted:
        query = query.where(InstanceRow.deleted_at.is_(None))
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.scalars(
        query.order_by(InstanceRow.created_at, InstanceRow.id).limit(limit).offset(offset)
    )
    return Page([to_view(row) for row in rows], total, limit, offset)


def to_view(row: InstanceRow, operation: OperationRow | None = None) -> InstanceView:
    return InstanceView(
        id=row.id,
        team_id=row.team_id,
        name=row.name,
        state=row.state,
        state_reason=row.state_reason,
        state_changed_at=row.state_changed_at,
        gpu_type=row.gpu_type,
        gpu_count=row.gpu_count,
        region=row.region,
        provider=row.provider,
        host_id=row.host_id,
        placement={str(k): str(v) for k, v in (row.placement or {}).items()},
        auto_hibernate=row.auto_hibernate,
        idle_policy=dict(row.idle_policy or {}),
        snapshot_schedule=dict(row.snapshot_schedule or {}),
        latest_snapshot_id=row.latest_snapshot_id,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        operation=operation_view(operation) if operation is not None else None,
    )


def operation_view(row: OperationRow) -> OperationView:
    return OperationView(
        id=row.id,
        kind=row.kind,
        step=row.step,
        started_at=row.started_at,
        finished_at=row.finished_at,
        outcome=row.outcome,
        error=row.error,
    )
