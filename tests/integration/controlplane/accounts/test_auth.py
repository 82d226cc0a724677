"""Register, log in, refresh, log out, /auth/me: the access-token life cycle over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.support.accounts import DEFAULT_PASSWORD, auth, log_in, sign_up, unique_email
from tests.support.http import ApiClient
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import UserRow

from .checks import assert_error

pytestmark = pytest.mark.integration


async def test_register_makes_a_user_with_a_personal_team_and_logs_them_in(
    api: ApiClient,
) -> None:
    email = unique_email("Ada").upper()
    response = await api.http.post(
        "/api/v1/auth/register",
        json={"email": email, "password": DEFAULT_PASSWORD, "display_name": "Ada"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["email"] == email.lower() and body["user"]["is_operator"] is False
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    me = await api.http.get("/api/v1/auth/me", headers=auth(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["team_id"] == body["team_id"] and me.json()["role"] == "owner"
    assert me.json()["session_id"] == body["session_id"]


async def test_the_password_is_stored_as_an_argon2id_hash(api: ApiClient) -> None:
    account = await sign_up(api.http)
    async with api.services.sessions() as session:
        row = await session.scalar(select(UserRow).where(UserRow.email == account.email))
    assert row is not None
    assert row.password_hash.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in row.password_hash


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address", "password": DEFAULT_PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"password": DEFAULT_PASSWORD}, "email"),
    ],
)
async def test_register_names_the_bad_field(
    api: ApiClient, body: dict[str, str], field: str
) -> None:
    assert_error(
        await api.http.post("/api/v1/auth/register", json=body), 400, "invalid_argument", field
    )


async def test_registering_a_taken_email_is_a_conflict(api: ApiClient) -> None:
    account = await sign_up(api.http)
    again = await api.http.post(
        "/api/v1/auth/register", json={"email": account.email, "password": DEFAULT_PASSWORD}
    )
    assert_error(again, 409, "conflict", "email")


async def test_login_checks_the_password(api: ApiClient) -> None:
    account = await sign_up(api.http)
    again = await log_in(api.http, account.email.upper())
    assert again.user_id == account.user_id and again.session_id != account.session_id
    wrong = await api.http.post(
        "/api/v1/auth/login", json={"email": account.email, "password": "wrong password!"}
    )
    assert_error(wrong, 401, "unauthenticated")
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    nobody = await api.http.post(
        "/api/v1/auth/login", json={"email": unique_email(), "password": DEFAULT_PASSWORD}
    )
    assert_error(nobody, 401, "unauthenticated")
    assert nobody.json()["error"]["message"] == wrong.json()["error"]["message"]
    assert_error(
        await api.http.post("/api/v1/auth/login", json={"email": account.email}),
        400,
        "invalid_argument",
        "password",
    )


async def test_protected_routes_need_a_token(api: ApiClient) -> None:
    assert_error(await api.http.get("/api/v1/auth/me"), 401, "unauthenticated")
    assert_error(
        await api.http.get("/api/v1/auth/me", headers=auth("garbage")), 401, "unauthenticated"
    )
    assert_error(await api.http.post("/api/v1/auth/logout"), 401, "unauthenticated")


async def test_an_expired_access_token_is_refused(api: ApiClient) -> None:
    account = await sign_up(api.http)
    expired = api.services.accounts.access_tokens.issue(
        account.user_id, account.session_id, account.team_id, now=utc_now() - timedelta(hours=1)
    )
    response = await api.http.get("/api/v1/auth/me", headers=auth(expired.token))
    assert_error(response, 401, "unauthenticated")
    assert "expired" in response.json()["error"]["message"]


async def test_a_token_signed_with_another_key_is_refused(api: ApiClient) -> None:
    import jwt  # noqa: PLC0415

    account = await sign_up(api.http)
    forged = jwt.encode(
        {
            "iss": "torpor",
            "sub": account.user_id,
            "sid": account.session_id,
            "iat": 1,
            "exp": 4_000_000_000,
        },
        "not the key this server signs with",
        algorithm="HS256",
    )
    assert_error(
        await api.http.get("/api/v1/auth/me", headers=auth(forged)), 401, "unauthenticated"
    )


async def test_refresh_rotates_the_refresh_token_and_a_reused_one_revokes_the_session(
    api: ApiClient,
) -> None:
    account = await sign_up(api.http)
    first = await api.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != account.refresh_token
    assert rotated["session_id"] == account.session_id
    assert (
        await api.http.get("/api/v1/auth/me", headers=auth(rotated["access_token"]))
    ).status_code == 200
    reused = await api.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert_error(reused, 401, "unauthenticated")
    # the session is gone: the new tokens stop working too
    assert_error(
        await api.http.get("/api/v1/auth/me", headers=auth(rotated["access_token"])),
        401,
        "unauthenticated",
    )
    again = await api.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert_error(again, 401, "unauthenticated")
    assert_error(
        await api.http.post("/api/v1/auth/refresh", json={}),
        400,
        "invalid_argument",
        "refresh_token",
    )
    assert_error(
        await api.http.post("/api/v1/auth/refresh", json={"refresh_token": "nope"}),
        401,
        "unauthenticated",
        "refresh_token",
    )


async def test_logout_ends_the_session_at_once(api: ApiClient) -> None:
    account = await sign_up(api.http)
    other = await log_in(api.http, account.email)
    assert (await api.http.post("/api/v1/auth/logout", headers=account.headers)).status_code == 204
    assert_error(
        await api.http.get("/api/v1/auth/me", headers=account.headers), 401, "unauthenticated"
    )
    refreshed = await api.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert_error(refreshed, 401, "unauthenticated")
    assert (await api.http.get("/api/v1/auth/me", headers=other.headers)).status_code == 200
