"""Applies the Alembic migrations shipped inside the package, without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from .engine import DatabaseUnreachable, create_engine
from .models import Base

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """The config `env.py` reads; `script_location` points into the installed package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["target_metadata"] = Base.metadata
    return config


async def upgrade_database(url: str) -> None:
    """Brings the database at `url` to the newest schema; a no-op when it is current.

    Raises DatabaseUnreachable when the database cannot be opened or refuses.
    """
    engine = create_engine(url)
    try:
        await upgrade_with_engine(engine)
    except (OSError, TimeoutError, SQLAlchemyError, asyncpg.PostgresError) as err:
        raise DatabaseUnreachable(url, err) from err
    finally:
        await engine.dispose()


async def upgrade_with_engine(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
