"""Snapshot routes and the retention policy: success, bad input, 401, 403, 404, and the
snapshots that must not be deleted (pinned; a hibernated instance's only way back)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from tests.integration.controlplane.instances.test_instance_routes import error_of
from tests.support.instances import Teams, add_snapshot
from torpor.controlplane.db.models import InstanceRow

pytestmark = pytest.mark.integration


async def test_list_get_pin_and_delete(teams: Teams) -> None:
    instance = await teams.create()
    services = teams.api.services
    await add_snapshot(services, instance["id"], "snap-old")
    await add_snapshot(services, instance["id"], "snap-new")
    base = f"/api/v1/instances/{instance['id']}/snapshots"
    listed = await teams.http.get(base, headers=teams.billing.headers)
    assert listed.status_code == 200 and listed.json()["total"] == 2
    error_of(await teams.http.get(base), 401, "unauthenticated")
    error_of(await teams.http.get(base, headers=teams.stranger.headers), 404, "not_found")
    bad = await teams.http.get(f"{base}?offset=-1", headers=teams.owner.headers)
    assert error_of(bad, 400, "invalid_argument")["field"] == "offset"

    one = await teams.http.get("/api/v1/snapshots/snap-old", headers=teams.billing.headers)
    assert one.status_code == 200 and one.json()["instance_id"] == instance["id"]
    error_of(
        await teams.http.get("/api/v1/snapshots/snap-old", headers=teams.stranger.headers),
        404,
        "not_found",
    )
    error_of(await teams.http.get("/api/v1/snapshots/snap-old"), 401, "unauthenticated")

    pin = "/api/v1/snapshots/snap-old/keep-forever"
    error_of(
        await teams.http.post(pin, json={}, headers=teams.billing.headers), 403, "permission_denied"
    )
    error_of(await teams.http.post(pin, json={}, headers=teams.stranger.headers), 404, "not_found")
    bad_pin = await teams.http.post(pin, json={"keep_forever": "x"}, headers=teams.owner.headers)
    assert error_of(bad_pin, 400, "invalid_argument")["field"] == "keep_forever"
    pinned = await teams.http.post(pin, json={}, headers=teams.member.headers)
    assert pinned.status_code == 200 and pinned.json()["keep_forever"] is True

    refused = await teams.http.delete("/api/v1/snapshots/snap-old", headers=teams.owner.headers)
    assert "kept forever" in error_of(refused, 409, "conflict")["message"]
    await teams.http.post(pin, json={"keep_forever": False}, headers=teams.owner.headers)
    error_of(
        await teams.http.delete("/api/v1/snapshots/snap-old", headers=teams.billing.headers),
        403,
        "permission_denied",
    )
    gone = await teams.http.delete("/api/v1/snapshots/snap-old", headers=teams.member.headers)
    assert gone.status_code == 200 and gone.json()["deleted_at"] is not None
    assert teams.paper.forgotten == ["snap-old"]
    again = await teams.http.get("/api/v1/snapshots/snap-old", headers=teams.owner.headers)
    error_of(again, 404, "not_found")


async def test_the_latest_snapshot_of_a_hibernated_instance_stays(teams: Teams) -> None:
    instance = await teams.create()
    await add_snapshot(teams.api.services, instance["id"], "snap-only")
    async with teams.api.services.sessions.begin() as session:
        await session.execute(
            update(InstanceRow).where(InstanceRow.id == instance["id"]).values(state="hibernated")
        )
    refused = await teams.http.delete("/api/v1/snapshots/snap-only", headers=teams.owner.headers)
    assert "wake or delete the instance" in error_of(refused, 409, "conflict")["message"]
    assert teams.paper.forgotten == []


async def test_take_snapshot_needs_a_running_instance_and_an_operating_role(teams: Teams) -> None:
    instance = await teams.create()
    url = f"/api/v1/instances/{instance['id']}/snapshots"
    error_of(await teams.http.post(url, json={}), 401, "unauthenticated")
    error_of(
        await teams.http.post(url, json={}, headers=teams.billing.headers), 403, "permission_denied"
    )
    error_of(await teams.http.post(url, json={}, headers=teams.stranger.headers), 404, "not_found")
    bad = await teams.http.post(url, json={"keep_forever": []}, headers=teams.owner.headers)
    assert error_of(bad, 400, "invalid_argument")["field"] == "keep_forever"
    # the paper host has no agent to answer
    error_of(
        await teams.http.post(url, json={}, headers=teams.owner.headers), 504, "deadline_exceeded"
    )


async def test_retention_policy(teams: Teams) -> None:
    url = "/api/v1/snapshots/retention-policy"
    default = await teams.http.get(url, headers=teams.billing.headers)
    assert default.json() == {"keep_last": 10, "keep_daily": 7, "keep_weekly": 4}
    error_of(await teams.http.get(url), 401, "unauthenticated")
    policy = {"keep_last": 2, "keep_daily": 0, "keep_weekly": 0}
    error_of(await teams.http.put(url, json=policy), 401, "unauthenticated")
    error_of(
        await teams.http.put(url, json=policy, headers=teams.member.headers),
        403,
        "permission_denied",
    )
    bad = await teams.http.put(url, json={**policy, "keep_last": 0}, headers=teams.owner.headers)
    assert error_of(bad, 400, "invalid_argument")["field"] == "keep_last"
    changed = await teams.http.put(url, json=policy, headers=teams.owner.headers)
    assert changed.status_code == 200 and changed.json() == policy
    assert (await teams.http.get(url, headers=teams.member.headers)).json() == policy
    theirs = await teams.http.get(url, headers=teams.stranger.headers)  # per team
    assert theirs.json()["keep_last"] == 10


async def test_retention_forgets_beyond_the_policy(teams: Teams) -> None:
    instance = await teams.create()
    services = teams.api.services
    await teams.http.put(
        "/api/v1/snapshots/retention-policy",
        json={"keep_last": 2, "keep_daily": 0, "keep_weekly": 0},
        headers=teams.owner.headers,
    )
    for name in ("s1", "s2", "s3"):
        await add_snapshot(services, instance["id"], name)
    await add_snapshot(services, instance["id"], "s4")
    assert await services.snapshots.apply_retention(instance["id"]) == ["s1", "s2"]
    assert teams.paper.forgotten == ["s1", "s2"]
