"""Database URLs for tests, on both backends the control plane supports.

SQLite: a file in the test's tmp dir. PostgreSQL: `TORPOR_TEST_POSTGRES_URL` (default
`postgresql+asyncpg://postgres@127.0.0.1:5432/test`), one fresh schema per test named
`torpor_test_<session random>_<n>` and selected through `?search_path=` (the engine turns it
into asyncpg `server_settings`), dropped after the test; leftovers of the session are dropped
at its end. Without a reachable PostgreSQL the pg variants skip, except under CI=true,
where they fail (a backend test that cannot run must not pass silently).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]
CONNECT_TIMEOUT_S = 3.0


def postgres_url() -> str:
    return os.environ.get("TORPOR_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _dsn(url: str) -> str:
    """The URL as asyncpg wants it (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Runs a coroutine on a private loop, leaving pytest-asyncio's loop alone."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(_dsn(url), timeout=CONNECT_TIMEOUT_S)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _drop_schemas_like(url: str, prefix: str) -> None:
    connection = await asyncpg.connect(_dsn(url), timeout=CONNECT_TIMEOUT_S)
    try:
        names = await connection.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"{prefix}%"
        )
        for record in names:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{record["nspname"]}" CASCADE')
    finally:
        await connection.close()


class PostgresServer:
    """The test PostgreSQL, handing out one fresh schema per test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"torpor_test_{secrets.token_hex(4)}"
        self._counter = itertools.count(1)

    def create_schema(self) -> tuple[str, str]:
        """(schema name, URL that selects it), from synchronous code."""
        return _run(self.create_schema_async())  # type: ignore[no-any-return]

    def drop_schema(self, schema: str) -> None:
        _run(self.drop_schema_async(schema))

    async def create_schema_async(self) -> tuple[str, str]:
        """`create_schema` for a test already running on an event loop."""
        schema = f"{self.prefix}_{next(self._counter)}"
        await _execute(self.url, f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in self.url else "?"
        return schema, f"{self.url}{separator}search_path={schema}"

    async def drop_schema_async(self, schema: str) -> None:
        await _execute(self.url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def drop_all(self) -> None:
        _run(_drop_schemas_like(self.url, self.prefix))


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL at {postgres_url()} is not reachable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: backend tests must run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The PostgreSQL test server, or a skip (a failure under CI=true) when unreachable."""
    server = PostgresServer(postgres_url())
    try:
        _run(_execute(server.url, "SELECT 1"))
    except (OSError, TimeoutError, asyncpg.PostgresError) as err:
        _unavailable(str(err) or type(err).__name__)
    yield server
    server.drop_all()


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'controlplane.db'}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables yet) on each backend in turn."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    schema, url = server.create_schema()
    yield url
    server.drop_schema(schema)
