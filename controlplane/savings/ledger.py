"""The compute intervals of an instance, kept in step with its row at every flush.

An instance's life is tiled by compute intervals (no gap, no overlap): `running` while it
holds a host (provisioning, waking and hibernating included, at the price of the host's
offer), `hibernated` while it holds none after having run (at the price of the host it
left: what it saves per hour), `unplaced` otherwise (provisioning before a host, failed
without one: nothing billed, nothing saved). Deletion closes the last one.

`install_ledger_hook()` registers one `before_flush` listener: for every instance row
created, or whose state, host or placement changed, it compares what the row says with
the open interval and, when they differ, closes it (guarded UPDATE ... WHERE ended_at IS
NULL) and opens the next, in the flush's own transaction. Replaying a change that is
already recorded finds nothing to do, so a restart or a duplicate event never double
counts. The time of the change is the row's `state_changed_at` for a state change, its
`created_at` for a new row, else the session's clock (`CLOCK_KEY`, default now).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, event, insert, inspect, select, update
from sqlalchemy.orm import Session

from torpor.common.timestamps import utc_now

from ..db.models import InstanceRow, LedgerRow
from .money import CURRENCY, from_cents

RUNNING, HIBERNATED, UNPLACED, STANDBY, STORAGE = (
    "running",
    "hibernated",
    "unplaced",
    "standby",
    "storage",
)
COMPUTE_KINDS = (RUNNING, HIBERNATED, UNPLACED)
PRICE_KEY = "price_per_hour_cents"
"""The placement's price, recorded in `instances.placement` by whoever places the instance."""
CLOCK_KEY = "torpor.savings.clock"
"""`session.info[CLOCK_KEY]`: a `() -> datetime` for changes that carry no time of their own."""
_WATCHED = ("state", "host_id", "placement")
_SAVES_WHILE_HOSTLESS = frozenset({"hibernated", "waking"})
ZERO = Decimal(0)


@dataclass(frozen=True)
class Wanted:
    """What the open compute interval should be, read from the instance row."""

    kind: str
    price: Decimal
    host_id: str | None


def placement_price(placement: dict[str, Any] | None) -> Decimal:
    """The host's price per hour recorded with the placement (0 when none was recorded)."""
    cents = (placement or {}).get(PRICE_KEY)
    return from_cents(int(cents)) if cents not in (None, "") else ZERO


def with_price(details: dict[str, str], price_per_hour_cents: int) -> dict[str, str]:
    """A placement's details plus its offer's price: what `instances.placement` keeps."""
    return {**details, PRICE_KEY: str(price_per_hour_cents)}


def install_ledger_hook() -> None:
    """Registers the flush listener once per process (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)


def _before_flush(session: Session, _context: object, _instances: object) -> None:
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, InstanceRow) and _changed(obj):
            reconcile(session, obj, _when(session, obj))


def _changed(row: InstanceRow) -> bool:
    state = inspect(row)
    if state.pending:
        return True
    return any(state.attrs[name].history.has_changes() for name in _WATCHED)


def _when(session: Session, row: InstanceRow) -> datetime:
    state = inspect(row)
    if state.pending:
        return row.created_at
    if state.attrs["state"].history.has_changes():
        return row.state_changed_at
    clock: Callable[[], datetime] = session.info.get(CLOCK_KEY, utc_now)
    return clock()


def reconcile(session: Session, row: InstanceRow, at: datetime) -> None:
    """Brings the instance's open compute interval in line with `row` as of `at`.

    Core statements, not ORM objects: this runs inside a flush."""
    connection = session.connection()
    last = connection.execute(
        select(
            LedgerRow.id,
            LedgerRow.kind,
            LedgerRow.price,
            LedgerRow.host_id,
            LedgerRow.seq,
            LedgerRow.started_at,
            LedgerRow.ended_at,
        )
        .where(LedgerRow.instance_id == row.id, LedgerRow.kind.in_(COMPUTE_KINDS))
        .order_by(LedgerRow.seq.desc())
        .limit(1)
    ).first()
    wanted = _wanted(session, row)
    if last is None or last.ended_at is not None:
        if wanted is not None:  # else deleted and already closed: a replay
            _open(connection, row, wanted, (last.seq if last else 0) + 1, at)
        return
    if wanted is not None and _same(last, wanted):
        return  # a replay: already recorded
    at = max(at, last.started_at)
    connection.execute(
        update(LedgerRow)
        .where(LedgerRow.id == last.id, LedgerRow.ended_at.is_(None))
        .values(ended_at=at)
        .execution_options(synchronize_session=False)
    )
    if wanted is not None:
        _open(connection, row, wanted, last.seq + 1, at)


def _open(connection: Connection, row: InstanceRow, wanted: Wanted, seq: int, at: datetime) -> None:
    connection.execute(insert(LedgerRow).values(**_interval(row, wanted, seq, at)))


def _same(last: Any, wanted: Wanted) -> bool:
    return bool(
        last.kind == wanted.kind and last.price == wanted.price and last.host_id == wanted.host_id
    )


def _wanted(session: Session, row: InstanceRow) -> Wanted | None:
    if row.state == "deleted":
        return None
    if row.host_id:
        return Wanted(RUNNING, placement_price(row.placement), row.host_id)
    if row.state in _SAVES_WHILE_HOSTLESS:
        return Wanted(HIBERNATED, last_running_price(session, row.id), None)
    return Wanted(UNPLACED, ZERO, None)


def last_running_price(session: Session, instance_id: str) -> Decimal:
    """The price per hour of the host the instance last ran on (0 if it never ran)."""
    prices = (
        session.connection()
        .execute(
            select(LedgerRow.price)
            .where(LedgerRow.instance_id == instance_id, LedgerRow.kind == RUNNING)
            .order_by(LedgerRow.seq.desc())
        )
        .scalars()
    )
    return next((price for price in prices if price), ZERO)


def _interval(row: InstanceRow, wanted: Wanted, seq: int, at: datetime) -> dict[str, Any]:
    return {
        "key": f"compute:{row.id}:{seq}",
        "instance_id": row.id,
        "team_id": row.team_id,
        "kind": wanted.kind,
        "seq": seq,
        "started_at": at,
        "ended_at": None,
        "gpu_type": row.gpu_type,
        "gpu_count": row.gpu_count,
        "region": row.region,
        "provider": row.provider,
        "host_id": wanted.host_id,
        "price": wanted.price,
        "currency": CURRENCY,
        "quantity": Decimal(1),
        "share_of": 1,
        "source": row.state,
    }
