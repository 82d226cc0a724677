"""The savings routes over a ledger written by the real hook: success with cent-exact
amounts, bad input naming the field (400), no token (401), a member's role (403), another
team's instance or an unknown GPU type (404); on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.controlplane.instances.test_instance_routes import error_of
from tests.integration.controlplane.savings.ledger_driver import Step, create, run
from tests.support.accounts import make_operator
from tests.support.instances import Teams
from torpor.common.timestamps import utc_now
from torpor.controlplane.instances.states import Action

pytestmark = pytest.mark.integration
DAY = [
    Step(0, host_price_cents=249, action=Action.PROVISIONED),
    Step(3 * 3600, action=Action.HIBERNATE),
    Step(0, host_price_cents=0, action=Action.HIBERNATED),
    Step(21 * 3600, action=Action.DELETE),
]


async def day_of_savings(teams: Teams) -> str:
    """3 h running at $2.49/h, 21 h hibernated, then deleted: two days ago."""
    start = (utc_now() - timedelta(days=2)).replace(microsecond=0)
    sessions = teams.api.services.sessions
    ident = await create(sessions, teams.owner.team_id, start, gpu_type="H100-80GB")
    await run(sessions, ident, DAY, start)
    return ident


async def _get(teams: Teams, path: str, who: Any = None, **params: Any) -> Any:
    response = await teams.http.get(
        f"/api/v1{path}", params=params, headers=(who or teams.billing).headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_summary_is_cent_exact_for_billing_and_owner(teams: Teams) -> None:
    await day_of_savings(teams)
    for who in (teams.billing, teams.owner):
        body = await _get(teams, "/savings/summary", who, period="week")
        amounts = body["amounts"]
        assert amounts["compute_cost"] == "7.47" and amounts["saved"] == "52.29"
        assert amounts["running_hours"] == "3" and amounts["hibernated_hours"] == "21"
        assert amounts["currency"] == "USD" and "half-even" in amounts["rounding"]
    theirs = await _get(teams, "/savings/summary", teams.stranger, period="all")
    assert theirs["amounts"]["saved"] == "0.00"  # another team's ledger is not theirs


async def test_summary_refusals(teams: Teams) -> None:
    url = "/api/v1/savings/summary"
    error_of(await teams.http.get(url), 401, "unauthenticated")
    error_of(await teams.http.get(url, headers=teams.member.headers), 403, "permission_denied")
    bad = await teams.http.get(url, params={"period": "fortnight"}, headers=teams.owner.headers)
    assert bad.status_code == 400 and "period" in bad.text
    others = await teams.http.get(url, params={"all_teams": "true"}, headers=teams.owner.headers)
    error_of(others, 403, "permission_denied")
    await make_operator(teams.api.services, teams.stranger.email)
    everyone = await _get(teams, "/savings/summary", teams.stranger, period="all", all_teams="true")
    assert everyone["amounts"]["saved"] == "0.00"  # nothing recorded yet, but allowed


async def test_history_breakdown_and_events(teams: Teams) -> None:
    ident = await day_of_savings(teams)
    months = await _get(teams, "/savings/history", months=3)
    assert len(months) == 3
    assert sum(float(m["amounts"]["saved"]) for m in months) == pytest.approx(52.29)
    breakdown = await _get(teams, "/savings/breakdown")
    assert [g["key"] for g in breakdown["by_gpu_type"]] == ["H100-80GB"]
    assert [g["key"] for g in breakdown["by_instance"]] == [ident]
    assert breakdown["by_instance"][0]["amounts"]["saved"] == "52.29"
    days = await _get(teams, "/metrics/hibernation/events", days=7)
    assert sum(d["hibernations"] for d in days) == 1
    assert sum(d["wakes"] for d in days) == 0  # deleted, never woken
    for path, name in (("/savings/history", "months"), ("/metrics/hibernation/events", "days")):
        bad = await teams.http.get(
            f"/api/v1{path}", params={name: 0}, headers=teams.billing.headers
        )
        assert bad.status_code == 400 and name in bad.text


async def test_comparison_against_the_reference_file(teams: Teams) -> None:
    await day_of_savings(teams)
    body = await _get(teams, "/savings/comparison/H100-80GB")
    assert body["ours"] == "7.47" and body["running_gpu_hours"] == "3"
    clouds = {ref["cloud"]: ref for ref in body["references"]}
    assert set(clouds) == {"aws", "gcp", "azure"}
    assert clouds["aws"]["instance_type"] == "p5.48xlarge"
    assert clouds["aws"]["same_running_hours"] == "20.64"  # 3 GPU-h x 55.04 / 8
    assert clouds["aws"]["always_on"] == "165.12"  # 24 GPU-h
    assert clouds["aws"]["as_of"] == "2026-02-09"
    assert clouds["aws"]["source"].startswith("https://github.com/aws/karpenter-provider-aws/")
    assert body["reference_version"] == 2
    missing = await teams.http.get("/api/v1/savings/comparison/H100", headers=teams.billing.headers)
    error = error_of(missing, 404, "not_found")
    assert "H100-80GB" in error["message"] and error["field"] == "gpu_type"


async def test_instance_savings(teams: Teams) -> None:
    ident = await day_of_savings(teams)
    body = await _get(teams, f"/instances/{ident}/savings")
    assert [i["kind"] for i in body["intervals"]] == ["unplaced", "running", "hibernated"]
    assert [i["amount"] for i in body["intervals"]] == ["0.00", "7.47", "52.29"]
    assert body["amounts"]["saved"] == "52.29"
    url = f"/api/v1/instances/{ident}/savings"
    error_of(await teams.http.get(url, headers=teams.stranger.headers), 404, "not_found")
    error_of(await teams.http.get(url, headers=teams.member.headers), 403, "permission_denied")
    error_of(await teams.http.get(url), 401, "unauthenticated")
    unknown = await teams.http.get("/api/v1/instances/i-nope/savings", headers=teams.owner.headers)
    error_of(unknown, 404, "not_found")
