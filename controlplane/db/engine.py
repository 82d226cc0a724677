"""The async engine for either backend, and the error that says the database is unreachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from .sqlite_locks import SQLiteLockingSession

SQLITE_BUSY_TIMEOUT_MS = 5000


class DatabaseUnreachable(Exception):
    """The database could not be opened or answered with an error at start-up."""

    def __init__(self, url: str, cause: BaseException) -> None:
        self.url = redact(url)
        self.cause = cause
        super().__init__(f"cannot use the database {self.url}: {one_line(cause)}")

    def hint(self) -> str:
        if self.url.startswith("sqlite"):
            return "check that the state directory is writable, or set TORPOR_DATABASE_URL"
        return "check that PostgreSQL runs and the database exists, or fix TORPOR_DATABASE_URL"


def redact(url: str) -> str:
    """The URL without its password, fit for a log line."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as a placeholder, not a traceback
        return "<unparsable database URL>"


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def create_engine(url: str) -> AsyncEngine:
    """An engine for `sqlite+aiosqlite://` or `postgresql+asyncpg://` URLs.

    A `search_path` query parameter on a PostgreSQL URL becomes the session's search path
    (asyncpg `server_settings`), which is how a deployment or a test picks a schema.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return _postgres_engine(parsed)


def _sqlite_engine(url: URL) -> AsyncEngine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the writer; SQLite leaves foreign keys off by default."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _postgres_engine(url: URL) -> AsyncEngine:
    query = dict(url.query)
    search_path = query.pop("search_path", None)
    connect_args: dict[str, Any] = {}
    if search_path:
        connect_args["server_settings"] = {"search_path": str(search_path)}
    return _create_async_engine(url.set(query=query), connect_args=connect_args, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (services return them); on SQLite,
    sessions whose FOR UPDATE reads lock (sqlite_locks.py)."""
    if engine.dialect.name == "sqlite":
        return async_sessionmaker(
            engine, expire_on_commit=False, sync_session_class=SQLiteLockingSession
        )
    return async_sessionmaker(engine, expire_on_commit=False)
