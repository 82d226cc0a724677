"""Every instance route: success, bad input naming the field, no auth (401), wrong role
(403), another team's id (404). Instances are placed by the paper provider."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.integration.controlplane.fleet.test_agent_hub import eventually
from tests.support.instances import SPEC, Teams
from torpor.controlplane.errors import TorporError

pytestmark = pytest.mark.integration


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return dict(body["error"])


async def test_offers(teams: Teams) -> None:
    response = await teams.http.get("/api/v1/offers", headers=teams.billing.headers)
    assert response.status_code == 200
    paper = [offer for offer in response.json() if offer["provider"] == "paper"]
    assert paper == [
        {
            "provider": "paper",
            "gpu_type": "H100",
            "gpu_count": 1,
            "region": "paper-1",
            "price_per_hour_cents": 250,
            "available": None,
        }
    ]
    error_of(await teams.http.get("/api/v1/offers"), 401, "unauthenticated")


async def test_create_places_the_instance(teams: Teams) -> None:
    response = await teams.http.post(
        "/api/v1/instances",
        json={**SPEC, "name": "lab", "auto_hibernate": False, "idle_policy": {"window_s": 600}},
        headers=teams.member.headers,
    )
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["state"] == "provisioning" and created["operation"]["kind"] == "create"
    assert created["team_id"] == teams.owner.team_id and created["name"] == "lab"
    await teams.api.services.operations.wait(created["operation"]["id"])
    running = await teams.get(created["id"])
    assert running["state"] == "running" and running["host_id"] == "h-paper-lease-1"
    assert running["idle_policy"] == {"window_s": 600} and running["operation"] is None
    assert list(teams.paper.acquired) == [created["operation"]["id"]]  # request id = op id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gpu_count": 0}, "gpu_count"),
        ({"gpu_type": ""}, "gpu_type"),
        ({"gpu_type": "B200"}, "gpu_type"),
        ({"region": "mars-1"}, "region"),
        ({"gpu_count": 8}, "gpu_count"),
        ({"idle_policy": {"gpu_util_threshold_percent": 101}}, "idle_policy"),
        ({"snapshot_schedule": {"every_s": 5}}, "snapshot_schedule"),
        ({"provider": "nope"}, "provider"),
    ],
)
async def test_create_refuses_bad_input_naming_the_field(
    teams: Teams, change: dict[str, Any], field: str
) -> None:
    response = await teams.http.post(
        "/api/v1/instances", json={**SPEC, **change}, headers=teams.owner.headers
    )
    error = error_of(response, 400, "invalid_argument")
    assert error["field"].startswith(field), error


async def test_create_needs_auth_and_an_operating_role(teams: Teams) -> None:
    error_of(await teams.http.post("/api/v1/instances", json=SPEC), 401, "unauthenticated")
    response = await teams.http.post("/api/v1/instances", json=SPEC, headers=teams.billing.headers)
    assert "billing_admin" in error_of(response, 403, "permission_denied")["message"]


async def test_create_when_no_host_can_be_had_fails_the_instance(teams: Teams) -> None:
    teams.paper.refuse = True
    instance = await teams.create()
    assert instance["state"] == "failed" and "no paper host" in instance["state_reason"]
    events = await teams.http.get(
        f"/api/v1/instances/{instance['id']}/events", headers=teams.owner.headers
    )
    kinds = [e["kind"] for e in events.json()["items"]]
    assert kinds == ["instance.created", "instance.create_failed"]


async def test_get_and_list_are_per_team(teams: Teams) -> None:
    mine = await teams.create()
    theirs = await teams.create(teams.stranger)
    listed = await teams.http.get("/api/v1/instances?limit=1", headers=teams.billing.headers)
    assert listed.status_code == 200
    assert listed.json()["total"] == 1 and listed.json()["items"][0]["id"] == mine["id"]
    other = await teams.http.get(f"/api/v1/instances/{theirs['id']}", headers=teams.owner.headers)
    error_of(other, 404, "not_found")
    error_of(await teams.http.get(f"/api/v1/instances/{mine['id']}"), 401, "unauthenticated")
    bad = await teams.http.get("/api/v1/instances?limit=0", headers=teams.owner.headers)
    assert error_of(bad, 400, "invalid_argument")["field"] == "limit"


async def test_all_teams_is_for_operators(teams: Teams) -> None:
    await teams.create()
    await teams.create(teams.stranger)
    url = "/api/v1/instances?all_teams=true"
    error_of(await teams.http.get(url, headers=teams.owner.headers), 403, "permission_denied")
    await teams.api.services.accounts.users.set_operator(teams.owner.email, True)
    response = await teams.http.get(url, headers=teams.owner.headers)
    assert response.status_code == 200 and response.json()["total"] == 2


async def test_hibernate_that_the_agent_never_answers_keeps_it_running(teams: Teams) -> None:
    """The paper host has no agent: the final snapshot times out, the host stays."""
    instance = await teams.create()
    url = f"/api/v1/instances/{instance['id']}/hibernate"
    response = await teams.http.post(url, headers=teams.member.headers)
    assert response.status_code == 202 and response.json()["state"] == "hibernating"
    again = await teams.http.post(url, headers=teams.member.headers)  # idempotent
    assert again.status_code == 202
    assert again.json()["operation"]["id"] == response.json()["operation"]["id"]
    await teams.api.services.operations.wait(response.json()["operation"]["id"])
    after = await teams.get(instance["id"])
    assert after["state"] == "running" and after["host_id"] == instance["host_id"]
    assert "final snapshot failed" in after["state_reason"]
    assert teams.paper.released == []
    events = await teams.http.get(
        f"/api/v1/instances/{instance['id']}/events?after=0&limit=50",
        headers=teams.billing.headers,
    )
    assert events.json()["items"][-1]["kind"] == "instance.hibernate_failed"


async def test_hibernate_and_wake_roles_teams_and_states(teams: Teams) -> None:
    instance = await teams.create()
    base = f"/api/v1/instances/{instance['id']}"
    error_of(await teams.http.post(f"{base}/hibernate"), 401, "unauthenticated")
    error_of(
        await teams.http.post(f"{base}/hibernate", headers=teams.billing.headers),
        403,
        "permission_denied",
    )
    error_of(
        await teams.http.post(f"{base}/wake", headers=teams.stranger.headers), 404, "not_found"
    )
    conflict = error_of(
        await teams.http.post(f"{base}/wake", headers=teams.owner.headers), 409, "conflict"
    )
    assert "it is running" in conflict["message"] and conflict["field"] == "state"
    error_of(
        await teams.http.post("/api/v1/instances/i-nope/hibernate", headers=teams.owner.headers),
        404,
        "not_found",
    )


async def test_delete_releases_the_host(teams: Teams) -> None:
    instance = await teams.create()
    url = f"/api/v1/instances/{instance['id']}"
    error_of(await teams.http.delete(url), 401, "unauthenticated")
    error_of(await teams.http.delete(url, headers=teams.billing.headers), 403, "permission_denied")
    error_of(await teams.http.delete(url, headers=teams.stranger.headers), 404, "not_found")
    response = await teams.http.delete(url, headers=teams.member.headers)
    assert response.status_code == 200 and response.json()["state"] == "deleted"
    assert teams.paper.released == ["lease-1"]
    assert teams.paper.repositories_deleted == [instance["id"]]  # unrecorded manifests too
    error_of(await teams.http.get(url, headers=teams.owner.headers), 404, "not_found")
    listed = await teams.http.get("/api/v1/instances", headers=teams.owner.headers)
    assert listed.json()["total"] == 0


async def test_metrics_events_and_feed(teams: Teams) -> None:
    instance = await teams.create()
    base = f"/api/v1/instances/{instance['id']}"
    metrics = await teams.http.get(f"{base}/metrics", headers=teams.billing.headers)
    assert metrics.status_code == 200
    assert set(metrics.json()["seconds_in_state"]) == {"provisioning", "running"}
    error_of(await teams.http.get(f"{base}/metrics"), 401, "unauthenticated")
    error_of(
        await teams.http.get(f"{base}/metrics", headers=teams.stranger.headers), 404, "not_found"
    )
    events = await teams.http.get(f"{base}/events?limit=1", headers=teams.owner.headers)
    page = events.json()
    assert [e["kind"] for e in page["items"]] == ["instance.created"]
    rest = await teams.http.get(
        f"{base}/events?after={page['next_after']}", headers=teams.owner.headers
    )
    assert [e["kind"] for e in rest.json()["items"]] == ["instance.running"]
    bad = await teams.http.get(f"{base}/events?after=-1", headers=teams.owner.headers)
    assert error_of(bad, 400, "invalid_argument")["field"] == "after"
    error_of(
        await teams.http.get(f"{base}/events", headers=teams.stranger.headers), 404, "not_found"
    )
    feed = await teams.http.get(f"{base}/feed?max_items=1", headers=teams.owner.headers)
    assert feed.status_code == 200 and "event: telemetry" in feed.text
    error_of(
        await teams.http.get(f"{base}/feed?max_items=1", headers=teams.stranger.headers),
        404,
        "not_found",
    )


async def test_a_team_with_live_instances_cannot_be_deleted(teams: Teams) -> None:
    instance = await teams.create()
    accounts = teams.api.services.accounts
    caller = await accounts.authenticator.caller(teams.owner.access_token)
    await accounts.teams.create(caller, "second")  # so the first is not the owner's only one
    with pytest.raises(TorporError, match="1 live instance: delete them first"):
        await accounts.teams.delete(caller, teams.owner.team_id)
    await teams.http.delete(f"/api/v1/instances/{instance['id']}", headers=teams.owner.headers)
    await accounts.teams.delete(caller, teams.owner.team_id)


async def test_the_feed_streams_the_instance_events(teams: Teams) -> None:
    instance = await teams.create()
    base = f"/api/v1/instances/{instance['id']}"
    bus = teams.api.services.bus
    watching = bus.subscriber_count  # the control plane's own (the fenced-host watch)
    feed = asyncio.create_task(
        teams.http.get(f"{base}/feed?max_items=2", headers=teams.billing.headers)
    )
    await eventually(lambda: bus.subscriber_count > watching)  # once its first message is out
    await teams.http.post(f"{base}/hibernate", headers=teams.owner.headers)
    response = await asyncio.wait_for(feed, 30)
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = [m for m in response.text.split("\r\n\r\n") if m.strip()]
    assert messages[0].startswith("event: telemetry")
    assert messages[1].startswith("event: event") and "instance.hibernating" in messages[1]
