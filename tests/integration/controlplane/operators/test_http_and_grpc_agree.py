"""HTTP and gRPC agree: the same operation through the HTTP route and through AdminService
(torporctl's path) leaves the same instance state, the same events and the same rows:
hibernate, drain/undrain, join tokens, failover (and its status, readiness and settings),
warm pool provisioning, the savings comparison.

Each pair runs on two twin instances (or hosts, or tokens) of the paper provider and
compares them with ids and timestamps left out.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from sqlalchemy import select

from tests.integration.controlplane.savings.test_savings_routes import day_of_savings
from tests.support.accounts import make_operator
from tests.support.controlplane import bearer
from tests.support.instances import SPEC, Teams, add_snapshot, join_paper_host
from torpor.controlplane.db.models import EventRow, HostDrainRow, OperationRow
from torpor.controlplane.warmpool.schemas import PoolRequest
from torpor.proto.v1 import admin_pb2, admin_pb2_grpc

pytestmark = pytest.mark.integration
VOLATILE = {"id", "created_at", "updated_at", "state_changed_at", "started_at", "expires_at"}
VOLATILE |= {"finished_at", "host_id", "instance_id", "moving_instance_ids", "team_id"}
IDS = re.compile(r"\b(h|op|i)-[\w-]+")


@pytest.fixture
async def admin(teams: Teams) -> AsyncIterator[tuple[admin_pb2_grpc.AdminServiceStub, str]]:
    token = await teams.api.services.admin_tokens.create("ops")
    address = f"127.0.0.1:{teams.api.control_plane.grpc_port}"
    async with grpc.aio.insecure_channel(address) as channel:
        yield admin_pb2_grpc.AdminServiceStub(channel), token


def normal(value: Any) -> Any:
    """`value` without ids and timestamps; proto messages as their JSON mapping."""
    if hasattr(value, "DESCRIPTOR"):
        value = MessageToDict(value, preserving_proto_field_name=True)
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items() if k not in VOLATILE and v not in ("", None)}
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, str):
        return IDS.sub(r"\1-*", value)
    return value


async def event_kinds(teams: Teams, *, instance_id: str = "", host_id: str = "") -> list[str]:
    query = select(EventRow.kind).order_by(EventRow.id)
    if instance_id:
        query = query.where(EventRow.instance_id == instance_id)
    if host_id:
        query = query.where(EventRow.host_id == host_id, EventRow.kind.like("host.drain%"))
    async with teams.api.services.sessions() as session:
        return list(await session.scalars(query))


async def last_event(teams: Teams, instance_id: str, kind: str) -> list[str]:
    """The instance's event kinds once `kind` is stored (published just after the
    operation ends, so it may trail `settle` by a moment)."""
    for _ in range(200):
        kinds = await event_kinds(teams, instance_id=instance_id)
        if kind in kinds:
            return kinds
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} for {instance_id}: {kinds}")


async def operations(teams: Teams, instance_id: str) -> list[tuple[str, str, str | None]]:
    async with teams.api.services.sessions() as session:
        rows = await session.scalars(
            select(OperationRow)
            .where(OperationRow.instance_id == instance_id)
            .order_by(OperationRow.started_at)
        )
        return [(r.kind, r.step, r.outcome) for r in rows]


async def settle(teams: Teams, *instances: dict[str, Any]) -> None:
    for instance in instances:
        current = await teams.get(instance["id"])
        if current["operation"]:
            await teams.api.services.operations.wait(current["operation"]["id"])


async def test_hibernate(teams: Teams, admin: tuple[Any, str]) -> None:
    stub, token = admin
    by_http, by_grpc = await teams.create(name="twin"), await teams.create(name="twin")
    answered = await teams.http.post(
        f"/api/v1/instances/{by_http['id']}/hibernate", headers=teams.owner.headers
    )
    assert answered.status_code == 202, answered.text
    reply = await stub.HibernateInstance(
        admin_pb2.HibernateInstanceRequest(id=by_grpc["id"]), metadata=bearer(token)
    )
    assert reply.state == "hibernating" == answered.json()["state"]
    assert normal(reply) == normal(_as_proto_json(answered.json()))
    await settle(teams, by_http, by_grpc)  # the paper host takes no snapshot: back to running
    assert normal(await teams.get(by_http["id"])) == normal(await teams.get(by_grpc["id"]))
    assert await event_kinds(teams, instance_id=by_http["id"]) == await event_kinds(
        teams, instance_id=by_grpc["id"]
    )
    assert await operations(teams, by_http["id"]) == await operations(teams, by_grpc["id"])


def _as_proto_json(view: dict[str, Any]) -> dict[str, Any]:
    """The HTTP body in the shape of admin.proto's Instance (the fields both carry)."""
    fields = admin_pb2.Instance.DESCRIPTOR.fields_by_name
    kept = {k: v for k, v in view.items() if k in fields and k != "operation"}
    operation = view.get("operation") or {}
    kept["operation"] = {k: v for k, v in operation.items() if v is not None}
    return kept


async def test_drain_and_undrain(teams: Teams, admin: tuple[Any, str]) -> None:
    stub, token = admin
    hosts, instances = [], []
    for _ in range(2):
        hosts.append((await join_paper_host(teams.api, teams.paper)).host_id)
        instances.append(await teams.create())
    drained = await teams.http.post(
        f"/api/v1/hosts/{hosts[0]}/drain", headers={"Authorization": f"Bearer {token}"}
    )
    assert drained.status_code == 202, drained.text
    reply = await stub.DrainHost(
        admin_pb2.DrainHostRequest(host_id=hosts[1]), metadata=bearer(token)
    )
    assert drained.json()["moving_instance_ids"] == [instances[0]["id"]]
    assert list(reply.moving_instance_ids) == [instances[1]["id"]]
    assert (
        normal(reply)
        == normal(drained.json())
        == {"draining": True, "started_by": "admin token 'ops'"}
    )
    await settle(teams, *instances)
    await teams.api.services.drains.settled()
    kinds = [await event_kinds(teams, host_id=h) for h in hosts]
    assert kinds[0] == kinds[1] == ["host.draining", "host.drain_stalled"]
    async with teams.api.services.sessions() as session:
        rows = list(await session.scalars(select(HostDrainRow).order_by(HostDrainRow.host_id)))
    assert sorted(r.host_id for r in rows) == sorted(hosts)
    assert {(r.started_by, r.drained_at) for r in rows} == {("admin token 'ops'", None)}

    undrained = await teams.http.post(
        f"/api/v1/hosts/{hosts[0]}/undrain", headers={"Authorization": f"Bearer {token}"}
    )
    reply = await stub.UndrainHost(
        admin_pb2.UndrainHostRequest(host_id=hosts[1]), metadata=bearer(token)
    )
    assert normal(undrained.json()) == {"draining": False} and not reply.draining
    assert normal(reply) == {}  # proto3 JSON leaves false out


async def test_join_tokens(teams: Teams, admin: tuple[Any, str]) -> None:
    stub, token = admin
    headers = {"Authorization": f"Bearer {token}"}
    created = await teams.http.post(
        "/api/v1/join-tokens", json={"note": "gpu-01", "ttl_s": 600}, headers=headers
    )
    assert created.status_code == 201, created.text
    reply = await stub.CreateJoinToken(
        admin_pb2.CreateJoinTokenRequest(note="gpu-01", ttl_s=600), metadata=bearer(token)
    )
    assert created.json()["secret"].startswith("tjt_") and reply.secret.startswith("tjt_")
    http_token = created.json()["token"]
    assert normal(http_token) == {"note": "gpu-01"}
    assert normal(reply.token) == {"note": "gpu-01", "status": "valid"}
    lifetime = datetime.fromisoformat(http_token["expires_at"]) - datetime.fromisoformat(
        http_token["created_at"]
    )
    assert lifetime == reply.token.expires_at.ToDatetime() - reply.token.created_at.ToDatetime()
    listed = (await teams.http.get("/api/v1/join-tokens", headers=headers)).json()
    over_grpc = await stub.ListJoinTokens(admin_pb2.ListJoinTokensRequest(), metadata=bearer(token))
    assert [t["id"] for t in listed] == [t.id for t in over_grpc.tokens]
    revoked = await teams.http.delete(f"/api/v1/join-tokens/{http_token['id']}", headers=headers)
    reply_revoked = await stub.RevokeJoinToken(
        admin_pb2.RevokeJoinTokenRequest(id=reply.token.id), metadata=bearer(token)
    )
    assert revoked.json()["revoked_at"] and reply_revoked.status == "revoked"
    assert normal(revoked.json()) == {"note": "gpu-01", "revoked_at": revoked.json()["revoked_at"]}


async def test_failover(teams: Teams, admin: tuple[Any, str]) -> None:
    """A failover whose new (paper) host never restores: both end hibernated alike."""
    stub, token = admin
    twins = [await teams.create(name="twin"), await teams.create(name="twin")]
    for twin in twins:
        await add_snapshot(teams.api.services, twin["id"], f"snap-{twin['id']}")
    answered = await teams.http.post(
        f"/api/v1/instances/{twins[0]['id']}/failover", headers=teams.owner.headers
    )
    assert answered.status_code == 202, answered.text
    reply = await stub.FailoverInstance(
        admin_pb2.FailoverInstanceRequest(id=twins[1]["id"]), metadata=bearer(token)
    )
    assert reply.state == "failing_over" == answered.json()["state"]
    assert reply.state_reason == "requested by admin token 'ops'"  # each names its caller
    assert answered.json()["state_reason"] == f"requested by {teams.owner.email}"
    assert normal(reply) | {"state_reason": ""} == normal(_as_proto_json(answered.json())) | {
        "state_reason": ""
    }
    await settle(teams, *twins)
    after = [await teams.get(t["id"]) for t in twins]
    assert after[0]["state"] == "hibernated" and normal(after[0]) == normal(after[1])
    kinds = [await last_event(teams, t["id"], "instance.failover_failed") for t in twins]
    assert kinds[0] == kinds[1]
    assert await operations(teams, twins[0]["id"]) == await operations(teams, twins[1]["id"])
    status = await teams.http.get(
        f"/api/v1/failover/status/{twins[0]['id']}", headers=teams.owner.headers
    )
    by_grpc = await stub.GetFailoverStatus(
        admin_pb2.GetFailoverStatusRequest(id=twins[1]["id"]), metadata=bearer(token)
    )
    http_status, grpc_status = (
        status.json(),
        MessageToDict(by_grpc, preserving_proto_field_name=True),
    )
    assert grpc_status["epoch"] == http_status["epoch"] == 2
    assert [p["end_reason"] for p in grpc_status["placements"]] == [
        p["end_reason"] for p in http_status["placements"]
    ]
    assert grpc_status["last_failover"]["outcome"] == http_status["last_failover"]["outcome"]
    assert grpc_status["last_failover_details"]["trigger"] == "requested"


async def test_failover_readiness(teams: Teams, admin: tuple[Any, str]) -> None:
    """Both name the same warm standby (and whether it holds the latest snapshot)."""
    stub, token = admin
    twin = await teams.create(name="ready")
    await add_snapshot(teams.api.services, twin["id"], f"snap-{twin['id']}")
    warm = teams.api.services.warmpool
    await warm.provision(PoolRequest("H100", 1, "paper-1", 1, 0))
    await warm.reconciler.tick()
    answered = await teams.http.get(
        f"/api/v1/failover/readiness/{twin['id']}", headers=teams.owner.headers
    )
    assert answered.status_code == 200, answered.text
    by_grpc = await stub.GetFailoverReadiness(
        admin_pb2.GetFailoverReadinessRequest(id=twin["id"]), metadata=bearer(token)
    )
    http = answered.json()
    assert http["warm_target"] is True and http["warm_target_host_id"]
    assert http["warm_target_holds_latest"] is False  # it prefetched nothing yet
    keys = ("ready", "reasons", "enabled", "warm_target", "warm_target_host_id")
    keys += ("warm_target_holds_latest", "latest_snapshot_id")
    assert {k: getattr(by_grpc, k) for k in keys} | {"reasons": list(by_grpc.reasons)} == {
        k: http[k] for k in keys
    }
    assert by_grpc.HasField("warm_target_holds_latest")


async def test_warm_pool_provision(teams: Teams, admin: tuple[Any, str]) -> None:
    """Created by one and updated by the other, both ways round (the paper provider has
    one offer, hence one pool key: cleaned up in between); bad input refused by both.
    Target 0 throughout, so the reconciler leaves the counts alone."""
    stub, token = admin
    headers = {"Authorization": f"Bearer {token}"}
    body = {**SPEC, "target": 0, "max_idle_s": 600, "shared": True}

    async def by_http(**change: Any) -> Any:
        return await teams.http.post(
            "/api/v1/warmpool/provision", json=body | change, headers=headers
        )

    async def by_grpc(**change: Any) -> admin_pb2.ProvisionWarmPoolResponse:
        request = admin_pb2.ProvisionWarmPoolRequest(**(body | change))
        return await stub.ProvisionWarmPool(request, metadata=bearer(token))

    created, updated = await by_http(), await by_grpc(max_idle_s=1200)
    assert created.status_code == 201 and not updated.created, created.text
    assert updated.pool.id == created.json()["id"] and updated.pool.max_idle_s == 1200
    listed = (await teams.http.get("/api/v1/warmpool/pools", headers=headers)).json()
    over_grpc = await stub.ListWarmPools(admin_pb2.ListWarmPoolsRequest(), metadata=bearer(token))
    assert normal(over_grpc.pools[0].pool) == unzero(normal(listed[0]["pool"]))
    counts = ("ready", "acquiring", "releasing", "claimed", "standby_seconds", "cost_cents")
    assert {c: getattr(over_grpc.pools[0], c) for c in counts} == {c: listed[0][c] for c in counts}
    cleaned = await stub.CleanupWarmPool(
        admin_pb2.CleanupWarmPoolRequest(id=updated.pool.id), metadata=bearer(token)
    )
    assert cleaned == admin_pb2.CleanupWarmPoolResponse()

    created_by_grpc, updated_by_http = await by_grpc(), await by_http(max_idle_s=1200)
    assert created_by_grpc.created and updated_by_http.status_code == 200
    assert updated_by_http.json()["id"] == created_by_grpc.pool.id
    assert normal(created_by_grpc.pool) == unzero(normal(created.json()))

    refused = await by_http(target=101)
    assert refused.status_code == 400 and "target" in refused.text
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await by_grpc(target=101)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "target" in (raised.value.details() or "")
    unowned = await by_http(shared=False)  # a pool names its owner: a team, or every team
    assert unowned.status_code == 400 and unowned.json()["error"]["field"] == "team_id"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await by_grpc(shared=False)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith("team_id:")


def unzero(body: dict[str, Any]) -> dict[str, Any]:
    """An HTTP body as proto3 JSON shows it: zeros left out."""
    return {k: v for k, v in body.items() if v != 0 or isinstance(v, bool)}


async def test_global_failover_settings(teams: Teams, admin: tuple[Any, str]) -> None:
    """Changed by one, read back by the other, both ways round; both replace the whole
    row (an unset field takes its default) and refuse the same values naming the field."""
    stub, token = admin
    path, headers = "/api/v1/failover/settings/global", {"Authorization": f"Bearer {token}"}

    async def read_grpc() -> dict[str, Any]:
        request = admin_pb2.GetFailoverSettingsRequest()
        return as_dict(await stub.GetFailoverSettings(request, metadata=bearer(token)))

    async def by_grpc(**values: Any) -> dict[str, Any]:
        request = admin_pb2.UpdateFailoverSettingsRequest(
            values=admin_pb2.FailoverSettingValues(**values)
        )
        return as_dict(await stub.UpdateFailoverSettings(request, metadata=bearer(token)))

    defaults = (await teams.http.get(path, headers=headers)).json()
    assert await read_grpc() == {"effective": defaults}
    changed = await teams.http.put(
        path, json={"enabled": False, "snapshot_every_s": 0}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert await read_grpc() == {"effective": changed.json()}
    replaced = await by_grpc(allow_other_region=True, max_snapshot_age_s=3600)
    assert replaced["effective"] == defaults | {
        "allow_other_region": True,
        "max_snapshot_age_s": 3600,
    }
    assert (await teams.http.get(path, headers=headers)).json() == replaced["effective"]
    same = await teams.http.put(path, json=replaced["effective"], headers=headers)
    assert {"effective": same.json()} == replaced == await read_grpc()
    for bad in ({"snapshot_every_s": 30}, {"max_snapshot_age_s": -1}):
        await both_refuse(teams, admin, path, bad, headers=headers)
    assert await read_grpc() == replaced  # a refusal changed nothing


async def test_instance_failover_settings(teams: Teams, admin: tuple[Any, str]) -> None:
    """Twin instances: the same overrides set by HTTP on one and by gRPC on the other read
    back alike both ways, with what each inherits; an empty update inherits everything."""
    stub, token = admin
    twins = [await teams.create(name="twin"), await teams.create(name="twin")]
    paths = [f"/api/v1/instances/{t['id']}/failover/settings" for t in twins]
    own = {"enabled": False, "snapshot_every_s": 120}

    async def read_grpc(ident: str) -> admin_pb2.FailoverSettings:
        request = admin_pb2.GetFailoverSettingsRequest(instance_id=ident)
        return await stub.GetFailoverSettings(request, metadata=bearer(token))

    async def by_grpc(ident: str, **values: Any) -> admin_pb2.FailoverSettings:
        request = admin_pb2.UpdateFailoverSettingsRequest(
            instance_id=ident, values=admin_pb2.FailoverSettingValues(**values)
        )
        return await stub.UpdateFailoverSettings(request, metadata=bearer(token))

    before = (await teams.http.get(paths[1], headers=teams.owner.headers)).json()
    assert normal(await read_grpc(twins[1]["id"])) == normal(before)
    put = await teams.http.put(paths[0], json=own, headers=teams.owner.headers)
    assert put.status_code == 200, put.text
    reply = await by_grpc(twins[1]["id"], **own)
    assert reply.instance_id == twins[1]["id"] and normal(reply) == normal(put.json())
    assert as_dict(reply)["overrides"] == own  # the rest inherited
    assert as_dict(reply)["effective"]["allow_other_region"] is False
    for ident, path in zip((t["id"] for t in twins), paths, strict=True):
        by_http = (await teams.http.get(path, headers=teams.owner.headers)).json()
        assert normal(await read_grpc(ident)) == normal(by_http) == normal(put.json())
    cleared = await by_grpc(twins[1]["id"])
    cleared_by_http = await teams.http.put(paths[0], json={}, headers=teams.owner.headers)
    assert normal(cleared) == normal(cleared_by_http.json()) == normal(before)
    bad = {"snapshot_every_s": 10}
    await both_refuse(
        teams, admin, paths[0], bad, headers=teams.owner.headers, instance_id=twins[0]["id"]
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await read_grpc("i-nope")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def both_refuse(
    teams: Teams,
    admin: tuple[Any, str],
    path: str,
    bad: dict[str, Any],
    *,
    headers: dict[str, str],
    instance_id: str = "",
) -> None:
    """HTTP 400 and gRPC INVALID_ARGUMENT, both naming the field."""
    (field,) = bad
    stub, token = admin
    refused = await teams.http.put(path, json=bad, headers=headers)
    assert refused.status_code == 400 and refused.json()["error"]["field"] == field
    request = admin_pb2.UpdateFailoverSettingsRequest(
        instance_id=instance_id, values=admin_pb2.FailoverSettingValues(**bad)
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.UpdateFailoverSettings(request, metadata=bearer(token))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith(f"{field}: ")


async def test_savings_comparison(teams: Teams, admin: tuple[Any, str]) -> None:
    """The same figures for one team (its billing admin over HTTP, gRPC with its id) and
    for every team (a platform operator with `all_teams`, gRPC with none); an unknown GPU
    type is NOT_FOUND with the 404's message, which names the known types."""
    stub, token = admin
    await day_of_savings(teams)
    await make_operator(teams.api.services, teams.stranger.email)
    path = "/api/v1/savings/comparison/H100-80GB"

    async def by_grpc(gpu_type: str, team_id: str = "") -> admin_pb2.SavingsComparison:
        request = admin_pb2.GetSavingsComparisonRequest(gpu_type=gpu_type, team_id=team_id)
        return await stub.GetSavingsComparison(request, metadata=bearer(token))

    team = await teams.http.get(path, headers=teams.billing.headers)
    everyone = await teams.http.get(
        path, params={"all_teams": "true"}, headers=teams.stranger.headers
    )
    assert team.status_code == everyone.status_code == 200, team.text
    for body, team_id in ((team.json(), teams.owner.team_id), (everyone.json(), "")):
        expected = body | ({"team_id": team_id} if team_id else {})  # empty: left out
        assert as_dict(await by_grpc("H100-80GB", team_id)) == expected
    assert team.json()["ours"] == "7.47" and len(team.json()["references"]) == 3
    missing = await teams.http.get("/api/v1/savings/comparison/H100", headers=teams.billing.headers)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await by_grpc("H100")
    assert missing.status_code == 404 and raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == missing.json()["error"]["message"]
    assert "H100-80GB" in (raised.value.details() or "")


def as_dict(message: Any) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)
