"""Accounts for tests: sign up users over the real HTTP API and make operators.

    account = await sign_up(api.http)                 # a new user with a personal team
    await api.http.get("/api/v1/auth/me", headers=account.headers)
    other = await sign_up(api.http, "bob@example.com")
    await make_operator(api.services, account.email)  # what `operators add` does
    key = await create_api_key(api.http, account)     # `tak_…` acting in account.team_id
    await invite_and_join(api.http, owner=account, invitee=other, role="member")

`sign_up` returns an `Account` (user id, personal team id, access and refresh tokens and
an `Authorization` header dict). The `api` fixture (tests/support/http.py) gives the
running app; these helpers only need its httpx client.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from torpor.controlplane.accounts.schemas import UserView
from torpor.controlplane.services import Services

DEFAULT_PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    team_id: str
    """The personal team made at registration (the current team until switched)."""
    access_token: str
    refresh_token: str
    session_id: str
    headers: dict[str, str] = field(default_factory=dict)
    """`{"Authorization": "Bearer <access token>"}`."""


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email(stem: str = "user") -> str:
    return f"{stem}-{next(_counter)}-{secrets.token_hex(3)}@example.com"


def _account(body: dict[str, Any], email: str, password: str) -> Account:
    return Account(
        email=email,
        password=password,
        user_id=body["user"]["id"],
        team_id=body["team_id"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        session_id=body["session_id"],
        headers=auth(body["access_token"]),
    )


async def sign_up(
    http: httpx.AsyncClient, email: str | None = None, password: str = DEFAULT_PASSWORD
) -> Account:
    """Registers a new user (a unique email unless given) and returns them logged in."""
    address = email or unique_email()
    response = await http.post(
        "/api/v1/auth/register", json={"email": address, "password": password}
    )
    assert response.status_code == 201, response.text
    return _account(response.json(), address.lower(), password)


async def log_in(http: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD) -> Account:
    """A new session for an existing user."""
    response = await http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return _account(response.json(), email.lower(), password)


async def create_api_key(http: httpx.AsyncClient, account: Account, name: str = "ci") -> str:
    """A new API key (`tak_…`) acting as `account` in their current team."""
    response = await http.post("/api/v1/api-keys", json={"name": name}, headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


async def invite_and_join(
    http: httpx.AsyncClient, owner: Account, invitee: Account, role: str = "member"
) -> None:
    """`invitee` joins `owner.team_id` with `role` through an invitation."""
    invited = await http.post(
        f"/api/v1/teams/{owner.team_id}/invitations",
        json={"email": invitee.email, "role": role},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text
    token = invited.json()["token"]
    accepted = await http.post(f"/api/v1/invitations/{token}/accept", headers=invitee.headers)
    assert accepted.status_code == 200, accepted.text


async def switch_team(http: httpx.AsyncClient, account: Account, team_id: str) -> None:
    """Makes `team_id` the current team of `account`'s user (all their sessions)."""
    response = await http.post(
        "/api/v1/users/me/switch-team", json={"team_id": team_id}, headers=account.headers
    )
    assert response.status_code == 200, response.text


async def make_operator(services: Services, email: str) -> UserView:
    """Grants the platform-operator role, as `torpor-controlplane operators add` does."""
    return await services.accounts.users.set_operator(email, True)
