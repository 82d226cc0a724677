"""Fixtures every test tree may use."""

from tests.support.databases import database_url, postgres_server

__all__ = ["database_url", "postgres_server"]
