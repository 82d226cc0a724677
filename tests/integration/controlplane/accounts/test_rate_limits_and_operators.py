"""Rate limits on login, registration and key creation; the operator role and /hosts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.accounts import DEFAULT_PASSWORD, auth, create_api_key, make_operator, sign_up
from tests.support.controlplane import fast_settings
from tests.support.http import ApiClient, running_api
from torpor.controlplane.settings import Settings

from .checks import assert_error

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent / "torpor-controlplane"


@pytest.fixture
async def strict_api(tmp_path: Path, database_url: str) -> AsyncIterator[ApiClient]:
    settings = fast_settings(
        tmp_path,
        database_url,
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        login_rate_per_minute=2,
        login_address_rate_per_minute=5,
        register_rate_per_minute=3,
        api_key_rate_per_minute=1,
    )
    async with running_api(settings) as client:
        yield client


async def test_login_is_limited_per_email_then_per_address(strict_api: ApiClient) -> None:
    account = await sign_up(strict_api.http)
    body = {"email": account.email, "password": "wrong password"}
    for _ in range(2):
        assert (await strict_api.http.post("/api/v1/auth/login", json=body)).status_code == 401
    limited = await strict_api.http.post(
        "/api/v1/auth/login", json={**body, "password": DEFAULT_PASSWORD}
    )
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    # another email from the same address: limited per address after 5 attempts in all
    other = {"email": "someone@example.com", "password": "wrong password"}
    statuses = [
        (await strict_api.http.post("/api/v1/auth/login", json=other)).status_code for _ in range(3)
    ]
    assert statuses == [401, 401, 429]


async def test_registration_and_key_creation_are_limited(strict_api: ApiClient) -> None:
    account = await sign_up(strict_api.http)
    await sign_up(strict_api.http)
    await sign_up(strict_api.http)
    fourth = await strict_api.http.post(
        "/api/v1/auth/register", json={"email": "d@example.com", "password": DEFAULT_PASSWORD}
    )
    assert_error(fourth, 429, "rate_limited")
    await create_api_key(strict_api.http, account)
    second = await strict_api.http.post(
        "/api/v1/api-keys", json={"name": "again"}, headers=account.headers
    )
    assert_error(second, 429, "rate_limited")


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TORPOR_STATE_DIR": str(settings.state_dir),
        "TORPOR_DATABASE_URL": settings.database_url,
    }
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_operators_are_made_on_the_server_and_only_they_see_hosts(
    api: ApiClient, settings: Settings
) -> None:
    alice, bob = await sign_up(api.http), await sign_up(api.http)
    assert_error(
        await api.http.get("/api/v1/hosts", headers=alice.headers), 403, "permission_denied"
    )
    assert_error(await api.http.get("/api/v1/hosts"), 401, "unauthenticated")
    added = _cli(settings, "operators", "add", alice.email)
    assert added.returncode == 0, added.stderr
    assert alice.email in _cli(settings, "operators", "list").stdout
    hosts = await api.http.get("/api/v1/hosts", headers=alice.headers)
    assert hosts.status_code == 200, hosts.text
    assert hosts.json()["total"] == 0
    key = await create_api_key(api.http, alice)
    assert (await api.http.get("/api/v1/hosts", headers=auth(key))).status_code == 200
    assert (await api.http.get("/api/v1/auth/me", headers=alice.headers)).json()["user"][
        "is_operator"
    ]
    assert_error(await api.http.get("/api/v1/hosts", headers=bob.headers), 403, "permission_denied")
    removed = _cli(settings, "operators", "remove", alice.email)
    assert removed.returncode == 0, removed.stderr
    assert_error(
        await api.http.get("/api/v1/hosts", headers=alice.headers), 403, "permission_denied"
    )
    assert alice.email not in _cli(settings, "operators", "list").stdout
    missing = _cli(settings, "operators", "add", "nobody@example.com")
    assert missing.returncode == 1 and "register first" in missing.stderr
    assert "Traceback" not in missing.stderr


async def test_registering_cannot_make_an_operator(api: ApiClient) -> None:
    response = await api.http.post(
        "/api/v1/auth/register",
        json={"email": "root@example.com", "password": DEFAULT_PASSWORD, "is_operator": True},
    )
    assert response.status_code == 201
    assert response.json()["user"]["is_operator"] is False
    headers = auth(response.json()["access_token"])
    assert_error(await api.http.get("/api/v1/hosts", headers=headers), 403, "permission_denied")
    await make_operator(api.services, "root@example.com")
    assert (await api.http.get("/api/v1/hosts", headers=headers)).status_code == 200
