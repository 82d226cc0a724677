"""The failover routes over HTTP: who may, in which state, with what answer; a failover
whose new host never restores ends hibernated with its snapshot; status, readiness and
the settings (global for operators, per instance for its team)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.support.accounts import make_operator
from tests.support.instances import Teams, add_snapshot
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import InstanceRow

pytestmark = pytest.mark.integration


async def test_who_may_fail_an_instance_over_and_when(teams: Teams) -> None:
    instance = await teams.create()
    path = f"/api/v1/instances/{instance['id']}/failover"
    assert (await teams.http.post(path)).status_code == 401
    assert (await teams.http.post(path, headers=teams.stranger.headers)).status_code == 404
    refused = await teams.http.post(path, headers=teams.billing.headers)
    assert refused.status_code == 403 and "member, owner" in refused.json()["error"]["message"]
    nothing = await teams.http.post(path, headers=teams.member.headers)
    assert nothing.status_code == 409  # no snapshot, and its (paper) host does not answer
    assert nothing.json()["error"]["field"] == "latest_snapshot_id"
    missing = await teams.http.post(
        "/api/v1/instances/i-nope/failover", headers=teams.owner.headers
    )
    assert missing.status_code == 404


async def test_a_failover_that_cannot_restore_ends_hibernated(teams: Teams) -> None:
    instance = await teams.create()
    await add_snapshot(teams.api.services, instance["id"], "snap-1")
    path = f"/api/v1/instances/{instance['id']}/failover"
    started = await teams.http.post(path, headers=teams.member.headers)
    assert started.status_code == 202 and started.json()["state"] == "failing_over"
    again = await teams.http.post(path, headers=teams.owner.headers)  # idempotent meanwhile
    assert again.json()["operation"]["id"] == started.json()["operation"]["id"]
    await teams.api.services.operations.wait(started.json()["operation"]["id"])
    after = await teams.get(instance["id"])
    assert after["state"] == "hibernated" and after["host_id"] is None
    assert after["latest_snapshot_id"] == "snap-1"  # the way back, untouched
    assert sorted(teams.paper.released) == ["lease-1", "lease-2"]  # old and new hosts
    conflict = await teams.http.post(path, headers=teams.owner.headers)
    assert conflict.status_code == 409 and "hibernated" in conflict.json()["error"]["message"]
    status = await teams.http.get(
        f"/api/v1/failover/status/{instance['id']}", headers=teams.billing.headers
    )
    assert status.status_code == 200
    body = status.json()
    assert body["epoch"] == 2 and body["last_failover"]["outcome"] == "failed"
    assert [p["end_reason"] for p in body["placements"]] == ["failover_failed", "failed_over"]
    assert body["last_failover_details"]["trigger"] == "requested"


async def test_readiness_says_what_a_failover_would_lose(teams: Teams) -> None:
    instance = await teams.create()
    path = f"/api/v1/failover/readiness/{instance['id']}"
    unready = (await teams.http.get(path, headers=teams.owner.headers)).json()
    assert unready["ready"] is False and unready["latest_snapshot_id"] is None
    assert any("no snapshot" in reason for reason in unready["reasons"])
    await add_snapshot(teams.api.services, instance["id"], "snap-1")
    ready = (await teams.http.get(path, headers=teams.owner.headers)).json()
    assert ready["ready"] is True and ready["reasons"] == []
    assert ready["latest_snapshot_id"] == "snap-1" and ready["would_lose_up_to_s"] >= 0
    assert (await teams.http.get(path, headers=teams.stranger.headers)).status_code == 404
    async with teams.api.services.sessions.begin() as session:
        await session.execute(
            update(InstanceRow).where(InstanceRow.id == instance["id"]).values(state="hibernated")
        )
    asleep = (await teams.http.get(path, headers=teams.owner.headers)).json()
    assert asleep["ready"] is False and asleep["would_lose_up_to_s"] is None


async def test_global_settings_are_for_operators(teams: Teams) -> None:
    path = "/api/v1/failover/settings/global"
    assert (await teams.http.get(path)).status_code == 401
    assert (await teams.http.get(path, headers=teams.owner.headers)).status_code == 403
    await make_operator(teams.api.services, teams.owner.email)
    seen = (await teams.http.get(path, headers=teams.owner.headers)).json()
    assert seen == {
        "enabled": True,
        "allow_other_region": False,
        "snapshot_every_s": 900,
        "max_snapshot_age_s": 1800,
    }
    bad = await teams.http.put(path, json={"snapshot_every_s": 30}, headers=teams.owner.headers)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "snapshot_every_s"
    bad = await teams.http.put(path, json={"max_snapshot_age_s": -1}, headers=teams.owner.headers)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "max_snapshot_age_s"
    changed = await teams.http.put(
        path, json={"enabled": False, "snapshot_every_s": 0}, headers=teams.owner.headers
    )
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    token = await teams.api.services.admin_tokens.create("ops")
    by_admin = await teams.http.get(path, headers={"authorization": f"Bearer {token}"})
    assert by_admin.json()["snapshot_every_s"] == 0


async def test_an_instance_overrides_what_it_sets(teams: Teams) -> None:
    instance = await teams.create()
    path = f"/api/v1/instances/{instance['id']}/failover/settings"
    seen = (await teams.http.get(path, headers=teams.billing.headers)).json()
    assert seen["overrides"]["enabled"] is None and seen["effective"]["enabled"] is True
    refused = await teams.http.put(path, json={"enabled": False}, headers=teams.billing.headers)
    assert refused.status_code == 403
    assert (await teams.http.put(path, json={}, headers=teams.stranger.headers)).status_code == 404
    changed = await teams.http.put(
        path, json={"enabled": False, "snapshot_every_s": 120}, headers=teams.member.headers
    )
    assert changed.status_code == 200
    assert changed.json()["effective"]["enabled"] is False
    assert changed.json()["effective"]["snapshot_every_s"] == 120
    assert changed.json()["effective"]["allow_other_region"] is False  # inherited
    bad = await teams.http.put(path, json={"snapshot_every_s": 10}, headers=teams.member.headers)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "snapshot_every_s"


async def test_periodic_snapshots_are_on_by_default(teams: Teams) -> None:
    instance = await teams.create()
    schedule = teams.api.services.schedule
    later = utc_now() + timedelta(seconds=901)
    assert await schedule.tick(later) == [instance["id"]]  # every 15 min, asked for or not
    path = f"/api/v1/instances/{instance['id']}/failover/settings"
    await teams.http.put(path, json={"snapshot_every_s": 0}, headers=teams.owner.headers)
    assert await schedule.tick(later) == []  # the instance said otherwise
