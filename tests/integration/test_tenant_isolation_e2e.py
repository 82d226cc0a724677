"""End to end with real local agents: a shared warm standby prefetches team X's snapshot and
team Y's, then team Y's instance wakes onto it, or fails over onto it (kill -9 of its
host). While a standby, the host holds X's data only as ciphertext; once Y's, not even
that: no byte of X's marker anywhere on the host (state directory, cache, logs,
workspace), raw bytes, every file. And its placement has the shape of an acquired host's.
SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.integration.test_failover_e2e import moved_from
from tests.integration.test_instance_lifecycle_e2e import _lease_of, agent_pid, wait_for_state
from tests.support.accounts import Account, make_operator, sign_up
from tests.support.controlplane import fast_settings
from tests.support.http import ApiClient, running_api
from tests.support.trees import describe
from torpor.controlplane.db.models import InstanceRow

pytestmark = pytest.mark.integration
SPEC = {"gpu_type": "L4", "gpu_count": 1, "region": "local"}
MARKER_X = b"team-x-secret-plaintext-3b9f04e1c2"


def holds(root: Path, needle: bytes) -> list[Path]:
    """Every file under `root` whose raw bytes contain `needle`."""
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def running_with_snapshot(
    http: httpx.AsyncClient, who: Account, content: dict[str, bytes]
) -> tuple[str, dict[str, Any], str]:
    """A running instance of `who` with `content` in its workspace, snapshotted."""
    created = await http.post(
        "/api/v1/instances", json={**SPEC, "auto_hibernate": False}, headers=who.headers
    )
    assert created.status_code == 202, created.text
    ident = created.json()["id"]
    running = await wait_for_state(http, who, ident, "running")
    workspace = Path(running["placement"]["workspace"])
    for name, data in content.items():
        (workspace / name).write_bytes(data)
    taken = await http.post(f"/api/v1/instances/{ident}/snapshots", json={}, headers=who.headers)
    assert taken.status_code == 201, taken.text
    return ident, running, taken.json()["id"]


@pytest.mark.parametrize("how", ["wake", "failover"])
async def test_a_shared_standby_hands_team_y_no_byte_of_team_x(
    tmp_path: Path, database_url: str, how: str
) -> None:
    settings = fast_settings(
        tmp_path,
        database_url,
        local_root=tmp_path / "local",
        heartbeat_interval_s=0.5,
        heartbeat_ttl_s=2,
        heartbeat_grace_s=1,
        fence_after_s=4,
        fence_margin_s=2,
    )
    async with running_api(settings) as api:
        http = api.http
        team_x, team_y, operator = [await sign_up(http) for _ in range(3)]
        await make_operator(api.services, operator.email)
        pools = api.services.warmpool
        assert pools is not None
        try:
            secret = {"notes.txt": MARKER_X * 50, "weights.bin": MARKER_X + os.urandom(300_000)}
            ident_x, _, snapshot_x = await running_with_snapshot(http, team_x, secret)
            own = {"y.bin": os.urandom(400_000)}
            ident_y, acquired_y, snapshot_y = await running_with_snapshot(http, team_y, own)

            shared = await http.post(
                "/api/v1/warmpool/provision",
                json={**SPEC, "target": 1, "shared": True},
                headers=operator.headers,
            )
            assert shared.status_code == 201, shared.text
            await pools.reconciler.tick()
            await pools.reconciler.prefetcher.wait()
            [standby] = await pools.hosts()
            assert standby.lease_id is not None
            assert sorted(standby.prefetched) == sorted([snapshot_x, snapshot_y])
            host = tmp_path / "local" / "hosts" / standby.lease_id
            cached = host / "state" / "cache" / "instances"
            assert sorted(p.name for p in cached.iterdir()) == sorted(await _instances(api))
            assert holds(host, MARKER_X) == []  # a standby holds X only as ciphertext
            key_x = await _key_of(api, ident_x)
            for spelling in (key_x, key_x.hex().encode()):  # its key stayed in memory
                assert holds(host, spelling) == []

            before = describe(Path(acquired_y["placement"]["workspace"]))
            if how == "wake":
                await http.post(f"/api/v1/instances/{ident_y}/hibernate", headers=team_y.headers)
                await wait_for_state(http, team_y, ident_y, "hibernated")
                await http.post(f"/api/v1/instances/{ident_y}/wake", headers=team_y.headers)
                woken = await wait_for_state(http, team_y, ident_y, "running")
            else:  # its host dies: the failover claims the standby
                os.kill(agent_pid(tmp_path / "local", _lease_of(acquired_y)), signal.SIGKILL)
                woken = await moved_from(http, team_y, ident_y, acquired_y["host_id"])
            assert woken["host_id"] == standby.host_id  # the shared standby, now Y's host
            assert describe(host / "workspace") == before
            assert set(woken["placement"]) == set(acquired_y["placement"])  # one shape
            assert woken["placement"]["workspace"] == str(host / "workspace")
            assert woken["placement"]["standby"] == standby.id
            assert holds(host, MARKER_X) == []
            assert [p.name for p in cached.iterdir()] == [ident_y]  # X's partition is gone
            assert not (host / "state" / "cache-discarded").exists()
        finally:
            await pools.reconciler.stop()
            await api.services.providers.get("local").stop_all()  # type: ignore[attr-defined]


async def _instances(api: ApiClient) -> list[str]:
    async with api.services.sessions() as session:
        return list(await session.scalars(select(InstanceRow.id)))


async def _key_of(api: ApiClient, instance_id: str) -> bytes:
    """The 32-byte secret of the instance's repository, as the prefetch carried it."""
    async with api.services.sessions() as session:
        row = await session.get(InstanceRow, instance_id)
    assert row is not None and row.wrapped_repository_key is not None
    key = api.services.repository_keys.open(instance_id, row.wrapped_repository_key)
    assert key is not None
    return key.reveal()
