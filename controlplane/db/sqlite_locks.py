"""SELECT … FOR UPDATE on SQLite: a transaction's locking read takes the database's write
lock, as on PostgreSQL it takes the row's.

SQLite ignores FOR UPDATE, and its Python driver begins a transaction only at the first
write, so two "locked" read-modify-write sequences interleaved: a warm-pool pass planned
from a pool a cleanup had just emptied and leaked a host. A write that changes nothing
(`UPDATE t SET pk = pk WHERE 0`) before the read begins the transaction and takes the
RESERVED lock until commit: other writers wait (busy_timeout), and the reads that follow
see the latest commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, false, update
from sqlalchemy.orm import ORMExecuteState, Session


class SQLiteLockingSession(Session):
    """The session class for SQLite engines (see the module's docstring)."""


@event.listens_for(SQLiteLockingSession, "do_orm_execute")
def _write_lock_before_a_locking_read(state: ORMExecuteState) -> None:
    statement: Any = state.statement
    mapper = state.bind_mapper
    if not state.is_select or getattr(statement, "_for_update_arg", None) is None:
        return
    if mapper is None:
        return
    key = mapper.primary_key[0]
    nothing = update(mapper.class_).where(false()).values({key.name: key})
    state.session.connection().execute(nothing)
