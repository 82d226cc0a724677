"""Teams, members, roles and invitations: who may do what, and what another team sees."""

from __future__ import annotations

import pytest

from tests.support.accounts import Account, invite_and_join, sign_up, switch_team
from tests.support.http import ApiClient
from torpor.controlplane.accounts.teams import TeamService
from torpor.controlplane.errors import FailedPrecondition

from .checks import assert_error

pytestmark = pytest.mark.integration


async def _team_with(api: ApiClient, role: str) -> tuple[Account, Account]:
    """An owner and a second user holding `role` in the owner's personal team."""
    owner, other = await sign_up(api.http), await sign_up(api.http)
    await invite_and_join(api.http, owner, other, role=role)
    return owner, other


async def test_create_list_get_rename_and_delete_a_team(api: ApiClient) -> None:
    alice = await sign_up(api.http)
    created = await api.http.post("/api/v1/teams", json={"name": "ml"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    team = created.json()
    assert team["role"] == "owner" and team["current"] is False and team["member_count"] == 1
    listed = (await api.http.get("/api/v1/teams", headers=alice.headers)).json()
    assert [t["id"] for t in listed["items"]] == [alice.team_id, team["id"]]
    assert listed["items"][0]["current"] is True and listed["total"] == 2
    mine = (await api.http.get("/api/v1/users/me/teams", headers=alice.headers)).json()
    assert mine == listed
    got = await api.http.get(f"/api/v1/teams/{team['id']}", headers=alice.headers)
    assert got.json()["name"] == "ml"
    renamed = await api.http.put(
        f"/api/v1/teams/{team['id']}", json={"name": "vision"}, headers=alice.headers
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "vision"
    deleted = await api.http.delete(f"/api/v1/teams/{team['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert_error(
        await api.http.get(f"/api/v1/teams/{team['id']}", headers=alice.headers), 404, "not_found"
    )
    only = await api.http.delete(f"/api/v1/teams/{alice.team_id}", headers=alice.headers)
    assert "only team" in assert_error(only, 409, "failed_precondition")["message"]


async def test_team_routes_validate_input_and_need_auth(api: ApiClient) -> None:
    alice = await sign_up(api.http)
    assert_error(
        await api.http.post("/api/v1/teams", json={"name": ""}, headers=alice.headers),
        400,
        "invalid_argument",
        "name",
    )
    assert_error(
        await api.http.post("/api/v1/teams", json={}, headers=alice.headers),
        400,
        "invalid_argument",
        "name",
    )
    assert_error(
        await api.http.put(
            f"/api/v1/teams/{alice.team_id}", json={"name": 5}, headers=alice.headers
        ),
        400,
        "invalid_argument",
        "name",
    )
    assert_error(
        await api.http.get("/api/v1/teams?offset=-1", headers=alice.headers),
        400,
        "invalid_argument",
        "offset",
    )
    path = f"/api/v1/teams/{alice.team_id}"
    for method, url in [
        ("GET", "/api/v1/teams"),
        ("POST", "/api/v1/teams"),
        ("GET", path),
        ("PUT", path),
        ("DELETE", path),
        ("GET", f"{path}/members"),
        ("POST", f"{path}/members"),
        ("DELETE", f"{path}/members/{alice.user_id}"),
        ("PUT", f"{path}/members/{alice.user_id}/role"),
        ("POST", f"{path}/invitations"),
        ("GET", f"{path}/invitations"),
        ("DELETE", f"{path}/invitations/inv_x"),
        ("GET", "/api/v1/users/me/teams"),
        ("POST", "/api/v1/users/me/switch-team"),
        ("POST", "/api/v1/invitations/tin_x/accept"),
    ]:
        response = await api.http.request(
            method, url, json={"name": "x", "role": "member", "email": "a@b.co", "team_id": "t"}
        )
        assert_error(response, 401, "unauthenticated")


async def test_another_teams_resources_are_not_found(api: ApiClient) -> None:
    alice, mallory = await sign_up(api.http), await sign_up(api.http)
    path = f"/api/v1/teams/{alice.team_id}"
    for method, url, body in [
        ("GET", path, None),
        ("PUT", path, {"name": "mine now"}),
        ("DELETE", path, None),
        ("GET", f"{path}/members", None),
        ("POST", f"{path}/members", {"email": mallory.email}),
        ("DELETE", f"{path}/members/{alice.user_id}", None),
        ("PUT", f"{path}/members/{alice.user_id}/role", {"role": "member"}),
        ("POST", f"{path}/invitations", {"email": mallory.email}),
        ("GET", f"{path}/invitations", None),
    ]:
        response = await api.http.request(method, url, json=body, headers=mallory.headers)
        assert_error(response, 404, "not_found")
    switched = await api.http.post(
        "/api/v1/users/me/switch-team", json={"team_id": alice.team_id}, headers=mallory.headers
    )
    assert_error(switched, 404, "not_found")
    assert (await api.http.get(path, headers=alice.headers)).json()["name"] != "mine now"


@pytest.mark.parametrize("role", ["member", "billing_admin"])
async def test_a_member_without_the_owner_role_is_forbidden_to_manage(
    api: ApiClient, role: str
) -> None:
    owner, other = await _team_with(api, role)
    path = f"/api/v1/teams/{owner.team_id}"
    assert (await api.http.get(path, headers=other.headers)).json()["role"] == role
    assert (await api.http.get(f"{path}/members", headers=other.headers)).json()["total"] == 2
    for method, url, body in [
        ("PUT", path, {"name": "x"}),
        ("DELETE", path, None),
        ("POST", f"{path}/members", {"email": "x@example.com"}),
        ("DELETE", f"{path}/members/{owner.user_id}", None),
        ("PUT", f"{path}/members/{owner.user_id}/role", {"role": "member"}),
        ("POST", f"{path}/invitations", {"email": "x@example.com"}),
        ("GET", f"{path}/invitations", None),
    ]:
        response = await api.http.request(method, url, json=body, headers=other.headers)
        assert "owner" in assert_error(response, 403, "permission_denied")["message"]


async def test_members_are_added_removed_and_given_roles(api: ApiClient) -> None:
    owner, bob = await sign_up(api.http), await sign_up(api.http)
    path = f"/api/v1/teams/{owner.team_id}/members"
    added = await api.http.post(
        path, json={"email": bob.email, "role": "billing_admin"}, headers=owner.headers
    )
    assert added.status_code == 201, added.text
    assert added.json()["role"] == "billing_admin" and added.json()["user_id"] == bob.user_id
    assert_error(
        await api.http.post(path, json={"email": bob.email}, headers=owner.headers),
        409,
        "conflict",
        "email",
    )
    assert_error(
        await api.http.post(path, json={"email": "nobody@example.com"}, headers=owner.headers),
        404,
        "not_found",
        "email",
    )
    assert_error(
        await api.http.post(path, json={"email": "bad"}, headers=owner.headers),
        400,
        "invalid_argument",
        "email",
    )
    assert_error(
        await api.http.post(path, json={"email": bob.email, "role": "god"}, headers=owner.headers),
        400,
        "invalid_argument",
        "role",
    )
    role = await api.http.put(
        f"{path}/{bob.user_id}/role", json={"role": "owner"}, headers=owner.headers
    )
    assert role.json()["role"] == "owner"
    assert_error(
        await api.http.put(f"{path}/{bob.user_id}/role", json={}, headers=owner.headers),
        400,
        "invalid_argument",
        "role",
    )
    assert_error(
        await api.http.put(f"{path}/u_nobody/role", json={"role": "member"}, headers=owner.headers),
        404,
        "not_found",
    )
    # two owners: the first may now leave
    left = await api.http.delete(f"{path}/{owner.user_id}", headers=owner.headers)
    assert left.status_code == 204
    assert_error(await api.http.get(path, headers=owner.headers), 404, "not_found")
    members = (await api.http.get(path, headers=bob.headers)).json()
    assert [m["user_id"] for m in members["items"]] == [bob.user_id]


async def test_the_last_owner_can_neither_leave_nor_be_demoted(api: ApiClient) -> None:
    owner, member = await _team_with(api, "member")
    path = f"/api/v1/teams/{owner.team_id}/members"
    leaving = await api.http.delete(f"{path}/{owner.user_id}", headers=owner.headers)
    assert "last owner" in assert_error(leaving, 409, "failed_precondition")["message"]
    demoted = await api.http.put(
        f"{path}/{owner.user_id}/role", json={"role": "member"}, headers=owner.headers
    )
    assert "last owner" in assert_error(demoted, 409, "failed_precondition")["message"]
    # a plain member may leave
    assert (
        await api.http.delete(f"{path}/{member.user_id}", headers=member.headers)
    ).status_code == 204


async def test_an_invitation_is_accepted_once_by_the_invited_email(api: ApiClient) -> None:
    owner, bob, eve = await sign_up(api.http), await sign_up(api.http), await sign_up(api.http)
    path = f"/api/v1/teams/{owner.team_id}/invitations"
    invited = await api.http.post(
        path, json={"email": bob.email.upper(), "role": "billing_admin"}, headers=owner.headers
    )
    assert invited.status_code == 201, invited.text
    token = invited.json()["token"]
    assert invited.json()["email"] == bob.email
    listed = (await api.http.get(path, headers=owner.headers)).json()
    assert listed["total"] == 1 and token not in str(listed)
    wrong_user = await api.http.post(f"/api/v1/invitations/{token}/accept", headers=eve.headers)
    assert_error(wrong_user, 403, "permission_denied")
    accepted = await api.http.post(f"/api/v1/invitations/{token}/accept", headers=bob.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["id"] == owner.team_id and accepted.json()["role"] == "billing_admin"
    again = await api.http.post(f"/api/v1/invitations/{token}/accept", headers=bob.headers)
    assert_error(again, 404, "not_found")
    assert (await api.http.get(path, headers=owner.headers)).json()["total"] == 0
    assert_error(
        await api.http.post(path, json={"email": "x"}, headers=owner.headers),
        400,
        "invalid_argument",
        "email",
    )


async def test_a_revoked_invitation_cannot_be_accepted(api: ApiClient) -> None:
    owner, bob = await sign_up(api.http), await sign_up(api.http)
    path = f"/api/v1/teams/{owner.team_id}/invitations"
    invited = (await api.http.post(path, json={"email": bob.email}, headers=owner.headers)).json()
    revoked = await api.http.delete(f"{path}/{invited['id']}", headers=owner.headers)
    assert revoked.status_code == 204
    assert_error(
        await api.http.delete(f"{path}/{invited['id']}", headers=owner.headers), 404, "not_found"
    )
    refused = await api.http.post(
        f"/api/v1/invitations/{invited['token']}/accept", headers=bob.headers
    )
    assert_error(refused, 404, "not_found")


async def test_switching_team_changes_what_the_same_token_acts_on(api: ApiClient) -> None:
    owner, bob = await _team_with(api, "member")
    me = (await api.http.get("/api/v1/auth/me", headers=bob.headers)).json()
    assert me["team_id"] == bob.team_id and me["role"] == "owner"
    await switch_team(api.http, bob, owner.team_id)
    me = (await api.http.get("/api/v1/auth/me", headers=bob.headers)).json()
    assert me["team_id"] == owner.team_id and me["role"] == "member"
    teams = (await api.http.get("/api/v1/users/me/teams", headers=bob.headers)).json()
    assert {t["id"]: t["current"] for t in teams["items"]} == {
        bob.team_id: False,
        owner.team_id: True,
    }
    bad = await api.http.post("/api/v1/users/me/switch-team", json={}, headers=bob.headers)
    assert_error(bad, 400, "invalid_argument", "team_id")


async def test_deleting_a_team_runs_the_plugged_in_checks(api: ApiClient) -> None:
    owner = await sign_up(api.http)
    team = (
        await api.http.post("/api/v1/teams", json={"name": "busy"}, headers=owner.headers)
    ).json()

    async def live_instances(_session: object, team_id: str) -> str | None:
        return "it has 1 live instance: delete it first" if team_id == team["id"] else None

    services = api.services
    teams = TeamService(services.sessions, [live_instances])  # type: ignore[list-item]
    caller = await services.accounts.authenticator.caller(owner.access_token)
    with pytest.raises(FailedPrecondition, match="live instance"):
        await teams.delete(caller, team["id"])
