"""End to end with real local agents: a warm standby prefetches an instance's snapshot,
the instance changes 5% and hibernates, and its wake claims the standby (no new host),
restoring every file byte for byte. SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.test_instance_lifecycle_e2e import wait_for_state
from tests.support.accounts import make_operator, sign_up
from tests.support.controlplane import fast_settings
from tests.support.http import running_api
from tests.support.trees import describe

pytestmark = pytest.mark.integration
SPEC = {"gpu_type": "L4", "gpu_count": 1, "region": "local"}
FILES, FILE_BYTES = 20, 512 * 1024


async def test_a_wake_claims_the_warm_standby_that_prefetched_it(
    tmp_path: Path, database_url: str
) -> None:
    settings = fast_settings(
        tmp_path,
        database_url,
        local_root=tmp_path / "local",
        heartbeat_interval_s=0.5,
        heartbeat_ttl_s=10,
        heartbeat_grace_s=10,
    )
    async with running_api(settings) as api:
        http, owner = api.http, await sign_up(api.http)
        operator = await sign_up(api.http)
        await make_operator(api.services, operator.email)
        pools = api.services.warmpool
        assert pools is not None
        try:
            created = await http.post(
                "/api/v1/instances", json={**SPEC, "auto_hibernate": False}, headers=owner.headers
            )
            ident = created.json()["id"]
            first = await wait_for_state(http, owner, ident, "running")
            workspace = Path(first["placement"]["workspace"])
            for i in range(FILES):
                (workspace / f"part-{i:02d}.bin").write_bytes(os.urandom(FILE_BYTES))
            manual = await http.post(
                f"/api/v1/instances/{ident}/snapshots", json={}, headers=owner.headers
            )
            assert manual.status_code == 201, manual.text
            snapshot_a = manual.json()["id"]

            pool = await http.post(
                "/api/v1/warmpool/provision",
                json={**SPEC, "target": 1, "team_id": owner.team_id},
                headers=operator.headers,
            )
            assert pool.status_code == 201, pool.text
            await pools.reconciler.tick()
            await pools.reconciler.prefetcher.wait()
            [standby] = await pools.hosts()
            assert standby.state == "ready" and standby.host_id != first["host_id"]
            assert standby.prefetched == [snapshot_a]

            (workspace / "part-07.bin").write_bytes(os.urandom(FILE_BYTES))  # 5%
            before = describe(workspace)
            await http.post(f"/api/v1/instances/{ident}/hibernate", headers=owner.headers)
            await wait_for_state(http, owner, ident, "hibernated")
            await http.post(f"/api/v1/instances/{ident}/wake", headers=owner.headers)
            running = await wait_for_state(http, owner, ident, "running")
            assert running["host_id"] == standby.host_id  # the standby, not a new host
            assert running["placement"]["standby"] == standby.id
            assert standby.lease_id is not None
            restored = tmp_path / "local" / "hosts" / standby.lease_id / "workspace"
            assert describe(restored) == before
        finally:
            await pools.reconciler.stop()
            await api.services.providers.get("local").stop_all()  # type: ignore[attr-defined]
