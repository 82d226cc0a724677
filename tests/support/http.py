"""The HTTP API in-process: httpx over ASGI, with the app's lifespan (and so gRPC and the
database) running on the test's own event loop.

    async def test_x(api: ApiClient) -> None:
        response = await api.http.get("/api/v1/auth/me", headers=...)
        services = api.services   # the same services the app uses
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from litestar import Litestar

from torpor.controlplane.app import create_app
from torpor.controlplane.runtime import ControlPlane
from torpor.controlplane.services import Services
from torpor.controlplane.settings import Settings

BASE_URL = "http://torpor"


@dataclass
class ApiClient:
    app: Litestar
    http: httpx.AsyncClient

    @property
    def control_plane(self) -> ControlPlane:
        plane = self.app.state.control_plane
        assert isinstance(plane, ControlPlane)
        return plane

    @property
    def services(self) -> Services:
        return self.control_plane.services


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[ApiClient]:
    """The app for `settings`, started; one task enters and leaves its lifespan (anyio
    insists), and a portal thread is avoided so the test may call services directly."""
    app = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    running_app = asyncio.create_task(lifespan())
    try:
        await asyncio.wait_for(started.wait(), 30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            yield ApiClient(app, http)
    finally:
        stop.set()
        await running_app


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[ApiClient]:
    """The running app over the `settings` fixture (SQLite and PostgreSQL in turn)."""
    async with running_api(settings) as client:
        yield client
