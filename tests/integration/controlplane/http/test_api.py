"""The HTTP API through Litestar's test client, lifespan (and so gRPC) included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from torpor.controlplane.app import create_app
from torpor.controlplane.db.engine import create_engine
from torpor.controlplane.fleet.schemas import Hello
from torpor.controlplane.runtime import ControlPlane
from torpor.controlplane.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    """httpx over ASGI with the app's lifespan on the test's own loop, so a test may also
    call the services directly (a portal thread's loop would own the DB connections)."""
    app = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:  # one task enters and leaves it (anyio insists)
        async with app.lifespan():
            started.set()
            await stop.wait()

    running_app = asyncio.create_task(lifespan())
    await asyncio.wait_for(started.wait(), 30)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://torpor") as http:
        yield Client(app, http)
    stop.set()
    await running_app


@dataclass
class Client:
    app: Litestar
    http: httpx.AsyncClient

    async def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.get(path, headers=headers)


def running(client: Client) -> ControlPlane:
    plane = client.app.state.control_plane
    assert isinstance(plane, ControlPlane)
    return plane


@pytest.fixture
async def admin(client: Client) -> dict[str, str]:
    token = await running(client).services.admin_tokens.create("http")
    return {"Authorization": f"Bearer {token}"}


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"}
    assert body["error"]["code"] == code and body["error"]["message"]


async def test_health(client: Client) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/api/v1/health/liveness")).status_code == 200
    ready = await client.get("/api/v1/health/readiness")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


async def test_readiness_is_503_when_the_database_is_gone(
    client: Client,
) -> None:
    services = running(client).services
    working = services.engine
    broken = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    object.__setattr__(services, "engine", broken)  # the database goes away under us
    try:
        response = await client.get("/api/v1/health/readiness")
    finally:
        object.__setattr__(services, "engine", working)
        await broken.dispose()
    assert response.status_code == 503
    assert_error(response.json(), "unavailable")


async def test_hosts_need_an_admin_token(client: Client) -> None:
    for headers in ({}, {"Authorization": "Bearer tat_x.y"}, {"Authorization": "Basic x"}):
        response = await client.get("/api/v1/hosts", headers=headers)
        assert response.status_code == 401
        assert_error(response.json(), "unauthenticated")


async def test_list_and_get_hosts(client: Client, admin: dict[str, str]) -> None:
    services = running(client).services
    ids = []
    for name in ("a", "b", "c"):
        token = await services.join_tokens.create(60)
        ids.append((await services.join_tokens.redeem(token, name, name)).host_id)
    await services.hosts.record_hello(Hello(ids[0], "a", "1.0", "Linux", {"k": "v"}))
    await services.hosts.record_telemetry(ids[0], {"host": {"cpu_percent": 1.5}})
    page = (await client.get("/api/v1/hosts?limit=2&offset=1", headers=admin)).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert [h["id"] for h in page["items"]] == ids[1:]
    connected = (await client.get("/api/v1/hosts?state=connected", headers=admin)).json()
    assert [h["id"] for h in connected["items"]] == [ids[0]] and connected["total"] == 1
    host = (await client.get(f"/api/v1/hosts/{ids[0]}", headers=admin)).json()
    for key in (
        "id",
        "hostname",
        "state",
        "agent_version",
        "os",
        "labels",
        "gpus",
        "joined_at",
        "connected_at",
        "disconnected_at",
        "last_heartbeat_at",
        "telemetry",
    ):
        assert key in host
    assert host["telemetry"] == {"host": {"cpu_percent": 1.5}} and host["labels"] == {"k": "v"}
    assert host["connected_at"].endswith(("Z", "+00:00"))


async def test_errors_share_one_body_shape(client: Client, admin: dict[str, str]) -> None:
    missing = await client.get("/api/v1/hosts/h-nope", headers=admin)
    assert missing.status_code == 404
    assert_error(missing.json(), "not_found")
    bad = await client.get("/api/v1/hosts?limit=0", headers=admin)
    assert bad.status_code == 400
    assert_error(bad.json(), "invalid_argument")
    assert bad.json()["error"]["field"] == "limit"
    wrong_state = await client.get("/api/v1/hosts?state=asleep", headers=admin)
    assert wrong_state.status_code == 400
    no_route = await client.get("/api/v1/nothing-here")
    assert no_route.status_code == 404
    assert_error(no_route.json(), "not_found")


async def test_metrics_and_openapi(client: Client) -> None:
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'torpor_hosts{state="connected"} 0.0' in metrics.text
    assert "torpor_agent_streams 0.0" in metrics.text
    assert "torpor_build_info" in metrics.text
    schema = await client.get("/docs/openapi.json")
    assert schema.status_code == 200
    assert "/api/v1/hosts" in schema.json()["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_two_apps_in_one_process_have_their_own_metrics(settings: Settings) -> None:
    first, second = create_app(settings), create_app(settings)
    assert first.state.metrics.registry is not second.state.metrics.registry
