"""The warm-pool routes: operators only (401, 403), bad input naming the field (400, a pool
has exactly one owner: a team or every team), unknown pools (404), cleanup refused while a
standby is mid-claim (409)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.accounts import Account, make_operator, sign_up
from tests.support.http import ApiClient
from tests.support.instances import PaperProvider
from torpor.common.timestamps import utc_now

pytestmark = pytest.mark.integration
BODY = {
    "gpu_type": "H100",
    "gpu_count": 1,
    "region": "paper-1",
    "target": 1,
    "max_idle_s": 600,
    "shared": True,
}


@pytest.fixture
async def operator(api: ApiClient) -> Account:
    api.services.providers.register(PaperProvider())
    account = await sign_up(api.http)
    await make_operator(api.services, account.email)
    return account


async def provision(api: ApiClient, who: Account, **change: Any) -> Any:
    return await api.http.post(
        "/api/v1/warmpool/provision", json=BODY | change, headers=who.headers
    )


async def test_provision_status_hosts_disable_enable_cleanup(
    api: ApiClient, operator: Account
) -> None:
    created = await provision(api, operator)
    assert created.status_code == 201, created.text
    pool_id = created.json()["id"]
    updated = await provision(api, operator, target=2)
    assert updated.status_code == 200 and updated.json()["id"] == pool_id
    assert updated.json()["target"] == 2 and updated.json()["provider"] == "paper"
    await api.services.warmpool.reconciler.tick()

    hosts = await api.http.get("/api/v1/warmpool/hosts", headers=operator.headers)
    assert hosts.status_code == 200
    assert [(h["pool_id"], h["state"]) for h in hosts.json()] == [(pool_id, "ready")] * 2
    status = await api.http.get(f"/api/v1/warmpool/status/{pool_id}", headers=operator.headers)
    assert status.status_code == 200, status.text
    assert (status.json()["ready"], status.json()["pool"]["target"]) == (2, 2)
    assert status.json()["cost_cents"] >= 0

    disabled = await api.http.post(f"/api/v1/warmpool/disable/{pool_id}", headers=operator.headers)
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    enabled = await api.http.post(f"/api/v1/warmpool/enable/{pool_id}", headers=operator.headers)
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    # enabling nudged the reconciler: a pass under way or not yet begun is done after
    # this one (they share a lock), so no standby is being acquired at the cleanup
    await api.services.warmpool.reconciler.tick()

    gone = await api.http.delete(f"/api/v1/warmpool/cleanup/{pool_id}", headers=operator.headers)
    assert gone.status_code == 204, gone.text
    after = await api.http.get(f"/api/v1/warmpool/status/{pool_id}", headers=operator.headers)
    assert after.status_code == 404 and after.json()["error"]["field"] == "id"
    assert (await api.http.get("/api/v1/warmpool/hosts", headers=operator.headers)).json() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": -1}, "target"),
        ({"gpu_count": 0}, "gpu_count"),
        ({"max_idle_s": -5}, "max_idle_s"),
        ({"gpu_type": ""}, "gpu_type"),
        ({"gpu_type": "TPU"}, "gpu_type"),
        ({"region": "mars"}, "region"),
        ({"shared": False}, "team_id"),
        ({"shared": False, "team_id": "t-nobody"}, "team_id"),
        ({"team_id": "t-nobody"}, "shared"),
    ],
)
async def test_provision_refuses_bad_input_naming_the_field(
    api: ApiClient, operator: Account, change: dict[str, Any], field: str
) -> None:
    refused = await provision(api, operator, **change)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["field"].endswith(field)


async def test_a_team_pool_is_apart_from_the_shared_pool_of_its_spec(
    api: ApiClient, operator: Account
) -> None:
    shared = await provision(api, operator)
    team = await provision(api, operator, shared=False, team_id=operator.team_id, target=2)
    assert (shared.status_code, team.status_code) == (201, 201), team.text
    assert shared.json()["shared"] is True and shared.json()["team_id"] is None
    assert team.json()["shared"] is False and team.json()["team_id"] == operator.team_id
    again = await provision(api, operator, shared=False, team_id=operator.team_id, target=3)
    assert again.status_code == 200 and again.json()["id"] == team.json()["id"]
    pools = await api.http.get("/api/v1/warmpool/pools", headers=operator.headers)
    owners = sorted((p["pool"]["team_id"] or "", p["pool"]["target"]) for p in pools.json())
    assert owners == [("", 1), (operator.team_id, 3)]


async def test_only_operators(api: ApiClient, operator: Account) -> None:
    assert (await api.http.post("/api/v1/warmpool/provision", json=BODY)).status_code == 401
    user = await sign_up(api.http)
    forbidden = await provision(api, user)
    assert forbidden.status_code == 403
    listed = await api.http.get("/api/v1/warmpool/hosts", headers=user.headers)
    assert listed.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/warmpool/enable/wp-nope"),
        ("POST", "/api/v1/warmpool/disable/wp-nope"),
        ("GET", "/api/v1/warmpool/status/wp-nope"),
        ("DELETE", "/api/v1/warmpool/cleanup/wp-nope"),
        ("GET", "/api/v1/warmpool/hosts?pool=wp-nope"),
    ],
)
async def test_unknown_pool_is_404(
    api: ApiClient, operator: Account, method: str, path: str
) -> None:
    answer = await api.http.request(method, path, headers=operator.headers)
    assert answer.status_code == 404 and "wp-nope" in answer.json()["error"]["message"]


async def test_cleanup_is_refused_while_a_standby_is_being_acquired(
    api: ApiClient, operator: Account
) -> None:
    await api.services.warmpool.reconciler.stop()  # no background pass acquires it first
    pool_id = (await provision(api, operator)).json()["id"]
    await api.services.warmpool.reconciler.plan(utc_now())  # journalled, not yet acquired
    refused = await api.http.delete(f"/api/v1/warmpool/cleanup/{pool_id}", headers=operator.headers)
    assert refused.status_code == 409
    assert "being acquired" in refused.json()["error"]["message"]
