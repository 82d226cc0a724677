"""Login sessions and API keys: listing, revoking, and what a revoked one can still do."""

from __future__ import annotations

import pytest

from tests.support.accounts import auth, create_api_key, invite_and_join, log_in, sign_up
from tests.support.http import ApiClient

from .checks import assert_error

pytestmark = pytest.mark.integration


async def test_sessions_are_listed_and_revoking_one_kills_its_token_at_once(
    api: ApiClient,
) -> None:
    first = await sign_up(api.http)
    second = await log_in(api.http, first.email)
    listed = await api.http.get("/api/v1/auth/sessions", headers=first.headers)
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["total"] == 2 and page["limit"] == 50 and page["offset"] == 0
    current = {s["id"]: s["current"] for s in page["items"]}
    assert current == {first.session_id: True, second.session_id: False}
    revoked = await api.http.delete(
        f"/api/v1/auth/sessions/{second.session_id}", headers=first.headers
    )
    assert revoked.status_code == 204
    assert_error(
        await api.http.get("/api/v1/auth/me", headers=second.headers), 401, "unauthenticated"
    )
    again = await api.http.delete(
        f"/api/v1/auth/sessions/{second.session_id}", headers=first.headers
    )
    assert_error(again, 404, "not_found")
    one = await api.http.get("/api/v1/auth/sessions?limit=1&offset=0", headers=first.headers)
    assert one.json()["total"] == 1 and len(one.json()["items"]) == 1


async def test_session_routes_check_input_auth_and_ownership(api: ApiClient) -> None:
    alice, bob = await sign_up(api.http), await sign_up(api.http)
    bad = await api.http.get("/api/v1/auth/sessions?limit=0", headers=alice.headers)
    assert_error(bad, 400, "invalid_argument", "limit")
    assert_error(await api.http.get("/api/v1/auth/sessions"), 401, "unauthenticated")
    assert_error(
        await api.http.delete(f"/api/v1/auth/sessions/{bob.session_id}"), 401, "unauthenticated"
    )
    other = await api.http.delete(f"/api/v1/auth/sessions/{bob.session_id}", headers=alice.headers)
    assert_error(other, 404, "not_found")
    assert (await api.http.get("/api/v1/auth/me", headers=bob.headers)).status_code == 200


async def test_an_api_key_is_shown_once_listed_without_secret_and_revocable(
    api: ApiClient,
) -> None:
    account = await sign_up(api.http)
    created = await api.http.post(
        "/api/v1/api-keys", json={"name": "ci", "expires_in_s": 3600}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("tak_") and created.json()["team_id"] == account.team_id
    me = await api.http.get("/api/v1/auth/me", headers=auth(key))
    assert me.status_code == 200, me.text
    assert me.json()["api_key_id"] == created.json()["id"] and me.json()["session_id"] is None
    listed = await api.http.get("/api/v1/api-keys", headers=account.headers)
    assert listed.json()["total"] == 1
    assert key not in listed.text and key.split(".")[1] not in listed.text
    assert listed.json()["items"][0]["prefix"] == key.split(".")[0]
    deleted = await api.http.delete(
        f"/api/v1/api-keys/{created.json()['id']}", headers=account.headers
    )
    assert deleted.status_code == 204
    assert_error(await api.http.get("/api/v1/auth/me", headers=auth(key)), 401, "unauthenticated")
    assert (await api.http.get("/api/v1/api-keys", headers=account.headers)).json()["total"] == 0


async def test_api_key_routes_check_input_auth_and_ownership(api: ApiClient) -> None:
    alice, bob = await sign_up(api.http), await sign_up(api.http)
    assert_error(
        await api.http.post("/api/v1/api-keys", json={"name": ""}, headers=alice.headers),
        400,
        "invalid_argument",
        "name",
    )
    assert_error(
        await api.http.post(
            "/api/v1/api-keys", json={"name": "x", "expires_in_s": -1}, headers=alice.headers
        ),
        400,
        "invalid_argument",
        "expires_in_s",
    )
    assert_error(
        await api.http.post("/api/v1/api-keys", json={"name": "x"}), 401, "unauthenticated"
    )
    assert_error(await api.http.get("/api/v1/api-keys"), 401, "unauthenticated")
    assert_error(await api.http.delete("/api/v1/api-keys/abc"), 401, "unauthenticated")
    bobs = await create_api_key(api.http, bob)
    bobs_id = bobs.split(".")[0].removeprefix("tak_")
    assert_error(
        await api.http.delete(f"/api/v1/api-keys/{bobs_id}", headers=alice.headers),
        404,
        "not_found",
    )
    # a key cannot mint keys: a leaked key must not outlive its revocation
    minted = await api.http.post("/api/v1/api-keys", json={"name": "x"}, headers=auth(bobs))
    assert_error(minted, 403, "permission_denied")
    forged = f"tak_{bobs_id}.not-the-secret"
    assert_error(
        await api.http.get("/api/v1/auth/me", headers=auth(forged)), 401, "unauthenticated"
    )


async def test_a_key_follows_its_users_role_and_stops_when_they_leave_the_team(
    api: ApiClient,
) -> None:
    owner, member = await sign_up(api.http), await sign_up(api.http)
    await invite_and_join(api.http, owner, member, role="member")
    switched = await api.http.post(
        "/api/v1/users/me/switch-team", json={"team_id": owner.team_id}, headers=member.headers
    )
    assert switched.status_code == 200, switched.text
    key = await create_api_key(api.http, member)
    me = (await api.http.get("/api/v1/auth/me", headers=auth(key))).json()
    assert me["team_id"] == owner.team_id and me["role"] == "member"
    promoted = await api.http.put(
        f"/api/v1/teams/{owner.team_id}/members/{member.user_id}/role",
        json={"role": "billing_admin"},
        headers=owner.headers,
    )
    assert promoted.status_code == 200, promoted.text
    me = (await api.http.get("/api/v1/auth/me", headers=auth(key))).json()
    assert me["role"] == "billing_admin"
    # the key only sees its own team, not the user's personal one
    teams = (await api.http.get("/api/v1/teams", headers=auth(key))).json()
    assert [t["id"] for t in teams["items"]] == [owner.team_id]
    hidden = await api.http.get(f"/api/v1/teams/{member.team_id}", headers=auth(key))
    assert_error(hidden, 404, "not_found")
    removed = await api.http.delete(
        f"/api/v1/teams/{owner.team_id}/members/{member.user_id}", headers=owner.headers
    )
    assert removed.status_code == 204
    assert_error(await api.http.get("/api/v1/auth/me", headers=auth(key)), 401, "unauthenticated")
    # the session falls back to a team the user is still in
    me = (await api.http.get("/api/v1/auth/me", headers=member.headers)).json()
    assert me["team_id"] == member.team_id and me["role"] == "owner"
