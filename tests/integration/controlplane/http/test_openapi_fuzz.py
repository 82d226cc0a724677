"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document (schemathesis).

For every operation in /docs/openapi.json, schemathesis generates requests from the schema
(valid and not); each goes to the real app with a logged-in user's token, and each answer
must be no 5xx, a documented status code, and a body matching the documented schema.
Routes added later are covered without touching this file. Bounded: a few examples per
operation, SQLite only (the accounts tests cover both backends).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.accounts import log_in, make_operator, sign_up
from tests.support.controlplane import fast_settings
from tests.support.http import ApiClient, running_api
from tests.support.instances import PaperProvider

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Routes whose answers are not JSON documents of the API.
SKIPPED_PATHS = {"/metrics"}


@pytest.fixture
async def fuzzed_api(tmp_path: Path, database_url: str) -> AsyncIterator[ApiClient]:
    """On SQLite and on PostgreSQL: a 5xx may hide in either backend's SQL."""
    async with running_api(fast_settings(tmp_path, database_url)) as client:
        # instances are placed on paper: a fuzzed create must not start real hosts
        client.services.providers.register(PaperProvider(), default=True)
        yield client


async def test_every_operation_answers_as_documented(fuzzed_api: ApiClient) -> None:
    account = await sign_up(fuzzed_api.http)
    await make_operator(fuzzed_api.services, account.email)
    document = (await fuzzed_api.http.get("/docs/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    loop = asyncio.get_running_loop()

    def send(kwargs: dict[str, Any]) -> httpx.Response:
        request = fuzzed_api.http.request(**kwargs)
        return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=30)

    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path not in SKIPPED_PATHS]
    assert len(operations) > 20
    failures = []
    for operation in operations:
        # a fresh session each: a fuzzed logout must not blind the operations after it
        headers = (await log_in(fuzzed_api.http, account.email)).headers
        try:
            await asyncio.to_thread(_fuzz, operation, send, headers)
        except Exception as err:  # one report for all operations, not the first only
            failures.append(f"{operation.method.upper()} {operation.path}: {err}")
    assert not failures, "\n\n".join(failures)


def _fuzz(operation: Any, send: Any, headers: dict[str, str]) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples on every run: CI is not flaky
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://torpor", headers=headers)
        response = send(_httpx_kwargs(kwargs))
        case.validate_response(response, checks=CHECKS, headers=headers)

    check()


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """requests-style keyword arguments, as httpx takes them."""
    allowed = {"method", "url", "headers", "params", "json", "content"}
    out = {key: value for key, value in kwargs.items() if key in allowed}
    if "data" in kwargs and kwargs["data"] is not None:
        out["content"] = kwargs["data"]
    return out
