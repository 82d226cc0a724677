"""Detection under network jitter, with a real local agent behind bench/jitter_proxy.py:
every chunk between agent and control plane is late by a random 0-1 s, yet the host is
never declared lost and its instance never fails over; cutting the proxy (a partition)
then makes the host lost and the instance fail over.

The heartbeat is a quarter of the default interval (interval 1.25 s, ttl 2.5 s, grace
2.5 s), the jitter up to 1 s and the jittered stretch 15 s, so the test takes under a minute; the
margin keeps the proportions of the benchmark's jitter run (`python -m bench.failover`):
lost after 5 s of silence, heartbeats at most 2.25 s apart. SQLite only: detection does
not touch the database kind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.jitter_proxy import JitterProxy
from tests.integration.test_failover_e2e import eventually, kinds_of, running_with_work
from tests.support.accounts import sign_up
from tests.support.controlplane import fast_settings
from tests.support.databases import sqlite_url
from tests.support.http import ApiClient, running_api
from tests.support.processes import free_port

pytestmark = [pytest.mark.integration, pytest.mark.chaos]
JITTERED_S = 15.0


async def test_jitter_never_fails_a_host_over_and_a_cut_does(tmp_path: Path) -> None:
    grpc_port = free_port()
    proxy = JitterProxy(f"127.0.0.1:{grpc_port}", max_delay_s=1.0)
    settings = fast_settings(
        tmp_path,
        sqlite_url(tmp_path),
        grpc_port=grpc_port,
        local_root=tmp_path / "local",
        local_agent_address=await proxy.start(),
        heartbeat_interval_s=1.25,
        heartbeat_ttl_s=2.5,
        heartbeat_grace_s=2.5,
    )
    async with running_api(settings) as api:
        try:
            owner = await sign_up(api.http)
            first, _ = await running_with_work(api, owner)
            host = first["host_id"]
            await asyncio.sleep(JITTERED_S)
            assert proxy.chunks > 0
            assert "host.lost" not in await kinds_of(api, host)
            instance = await api.http.get(f"/api/v1/instances/{first['id']}", headers=owner.headers)
            assert instance.json()["host_id"] == host and instance.json()["state"] == "running"
            assert api.services.hub.is_connected(host)

            await proxy.cut()
            await eventually(lambda: _has_lost(api, host), timeout_s=30)
        finally:
            await proxy.cut()
            await api.services.providers.get("local").stop_all()  # type: ignore[attr-defined]


async def _has_lost(api: ApiClient, host: str) -> bool:
    return "host.lost" in await kinds_of(api, host)
