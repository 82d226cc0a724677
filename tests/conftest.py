"""Fixtures every test tree may use."""

from tests.support.databases import database_url, postgres_server
from tests.support.s3server import moto_server, moto_server_with_auth, s3_bucket

pytest_plugins = ["tests.support.hang_report"]

__all__ = ["database_url", "moto_server", "moto_server_with_auth", "postgres_server", "s3_bucket"]
