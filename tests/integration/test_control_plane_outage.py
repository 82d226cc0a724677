"""A control-plane outage is not a failure: real local agents, a live workload in the
instance's workspace, real sockets, the control plane stopped and started again on the same
database and gRPC port (SQLite and PostgreSQL).

- The local provider confirms its releases (it kills the agent's process group), so its
  hosts are told never to fence themselves (`fence_after_ms` 0): outages of 0.5x, 1.5x and
  5x the fence bound stop no workload, leave no instance stuck, and fail nothing over.
- A provider that cannot confirm a release (the local provider behind `CannotConfirm`
  (tests/support/cannot_confirm.py), as
  an operator's own machines look to torpor) gets the bound: an outage past it makes the
  host fence itself (its workload is ended); once the control plane is back the instance is
  re-assigned in place at the next epoch, automatically, and snapshots work again.

The bound is scaled down here (TORPOR_FENCE_AFTER_S 4 s); the literal outages of 30 s,
90 s and 5 minutes with the default settings are marked `chaos_long` (`make chaos-long`;
`make test` deselects them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_instance_lifecycle_e2e import free_port, is_running, wait_for_state
from tests.support.accounts import Account, sign_up
from tests.support.cannot_confirm import without_confirmation
from tests.support.controlplane import fast_settings
from tests.support.http import ApiClient, running_api
from tests.support.trees import describe, make_tree
from torpor.agent.fencing.stop_work import end_workspace_processes
from torpor.controlplane.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.chaos]
SPEC = {"gpu_type": "L4", "gpu_count": 1, "region": "local", "auto_hibernate": False}
FENCE_AFTER_S = 4.0
SCALED = {
    "heartbeat_interval_s": 0.5,
    "heartbeat_ttl_s": 2,
    "heartbeat_grace_s": 1.5,
    "fence_after_s": FENCE_AFTER_S,
    "fence_margin_s": 2,
}


def settings_for(tmp_path: Path, database_url: str, **values: Any) -> Settings:
    return fast_settings(
        tmp_path, database_url, local_root=tmp_path / "local", grpc_port=free_port(), **values
    )


@contextlib.contextmanager
def agents_killed_after(local_root: Path) -> Iterator[None]:
    """Whatever happens, no agent or workload of this test outlives it (the control plane
    may be down when a test fails, and `stop_all` needs one)."""
    try:
        yield
    finally:
        for lease in (local_root / "leases").glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                os.killpg(int(json.loads(lease.read_text())["pid"]), signal.SIGKILL)
        end_workspace_processes(local_root, grace_s=0)  # the workloads


@contextlib.asynccontextmanager
async def control_plane(settings: Settings, confirmable: bool = True) -> AsyncIterator[ApiClient]:
    async with running_api(settings) as api:
        if not confirmable:
            without_confirmation(api.services.providers)
        yield api


async def a_workload(api: ApiClient, owner: Account) -> tuple[dict[str, Any], Any]:
    """A running instance with files, a snapshot, and a process working in its workspace."""
    created = await api.http.post("/api/v1/instances", json=SPEC, headers=owner.headers)
    assert created.status_code == 202, created.text
    instance = await wait_for_state(api.http, owner, created.json()["id"], "running")
    workspace = Path(instance["placement"]["workspace"])
    make_tree(workspace / "project", big_bytes=64 * 1024)
    taken = await snapshot(api, owner, instance["id"])
    assert taken.status_code == 201, taken.text
    worker = await asyncio.create_subprocess_exec(
        "sleep", "3600", cwd=workspace, start_new_session=True
    )
    return instance, worker


async def snapshot(api: ApiClient, owner: Account, ident: str) -> Any:
    return await api.http.post(
        f"/api/v1/instances/{ident}/snapshots", json={}, headers=owner.headers
    )


async def events_of(api: ApiClient, ident: str) -> list[str]:
    return [e.kind for e in await api.services.events.after(0, None, 5000, instance_id=ident)]


async def settled(api: ApiClient, owner: Account, ident: str, epoch: int) -> dict[str, Any]:
    """Waits until the instance is running at `epoch` with no operation (30 s at most);
    state and epoch come from one read (the failover status), so a re-assignment between
    two reads cannot pass for "running at the new epoch"."""
    for _ in range(300):
        status = await api.http.get(f"/api/v1/failover/status/{ident}", headers=owner.headers)
        if status.json()["state"] == "running" and status.json()["epoch"] == epoch:
            body = (await api.http.get(f"/api/v1/instances/{ident}", headers=owner.headers)).json()
            if body["state"] == "running" and body["operation"] is None:
                return dict(body)
        await asyncio.sleep(0.1)
    raise AssertionError(f"instance {ident} never settled at epoch {epoch}: {status.json()}")


async def outages_cost_no_work(
    tmp_path: Path, database_url: str, outages_s: list[float], **values: Any
) -> None:
    settings = settings_for(tmp_path, database_url, **values)
    with agents_killed_after(tmp_path / "local"):
        async with control_plane(settings) as api:
            owner = await sign_up(api.http)
            instance, worker = await a_workload(api, owner)
            ident = instance["id"]
        for outage_s in outages_s:
            await asyncio.sleep(outage_s)  # the control plane is down
            async with control_plane(settings) as api:
                await asyncio.sleep(settings.heartbeat_ttl_s + settings.heartbeat_grace_s + 1)
                assert is_running(worker.pid), f"the workload stopped after {outage_s} s"
                body = await settled(api, owner, ident, epoch=1)
                assert body["host_id"] == instance["host_id"]
                assert (await snapshot(api, owner, ident)).status_code == 201
                ready = await api.http.get(
                    f"/api/v1/failover/readiness/{ident}", headers=owner.headers
                )
                assert ready.json()["ready"], ready.json()
                kinds = await events_of(api, ident)
                assert "instance.failover_started" not in kinds  # no failover, let alone a storm
                assert "instance.host_fenced" not in kinds
                if outage_s == outages_s[-1]:
                    worker.kill()
                    await worker.wait()
                    await api.services.providers.get("local").stop_all()  # type: ignore[attr-defined]


async def outage_fences_then_reassigns(
    tmp_path: Path, database_url: str, outage_s: float, **values: Any
) -> None:
    settings = settings_for(tmp_path, database_url, **values)
    with agents_killed_after(tmp_path / "local"):
        async with control_plane(settings, confirmable=False) as api:
            owner = await sign_up(api.http)
            instance, worker = await a_workload(api, owner)
            ident = instance["id"]
            workspace = Path(instance["placement"]["workspace"])
            written = describe(workspace)
        await asyncio.sleep(outage_s)  # past the bound: the host fences itself
        assert not is_running(worker.pid), "a host that cannot be confirmed gone must fence"
        async with control_plane(settings, confirmable=False) as api:
            body = await settled(api, owner, ident, epoch=2)  # re-assigned in place
            assert body["host_id"] == instance["host_id"]
            assert describe(workspace) == written  # its workspace, nothing restored over it
            taken = await snapshot(api, owner, ident)
            assert taken.status_code == 201, taken.text
            kinds = await events_of(api, ident)
            assert "instance.host_fenced" in kinds and "instance.reassigned" in kinds
            assert "instance.failover_started" not in kinds
            status = await api.http.get(f"/api/v1/failover/status/{ident}", headers=owner.headers)
            ends = [p["end_reason"] for p in status.json()["placements"]]
            assert ends == ["", "fenced"]  # newest first: epoch 2 open, epoch 1 ended fenced
            await worker.wait()
            await api.services.providers.get("local").stop_all()  # type: ignore[attr-defined]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # ~45 s: one backend
async def test_outages_scaled_to_the_bound_stop_no_work_on_a_confirmable_provider(
    tmp_path: Path, database_url: str
) -> None:
    bound = FENCE_AFTER_S
    await outages_cost_no_work(
        tmp_path, database_url, [0.5 * bound, 1.5 * bound, 5 * bound], **SCALED
    )


async def test_a_host_that_cannot_be_confirmed_gone_fences_and_is_reassigned(
    tmp_path: Path, database_url: str
) -> None:
    await outage_fences_then_reassigns(tmp_path, database_url, 1.5 * FENCE_AFTER_S, **SCALED)


LITERAL = {"heartbeat_interval_s": 5, "heartbeat_ttl_s": 10, "heartbeat_grace_s": 8}


@pytest.mark.chaos_long
@pytest.mark.timeout(1200)  # 7 minutes of outages, and the restarts
async def test_outages_of_30_s_90_s_and_5_min_stop_no_work(
    tmp_path: Path, database_url: str
) -> None:
    """The issue's literal outages with the default heartbeat and fence bound (60 s)."""
    await outages_cost_no_work(tmp_path, database_url, [30, 90, 300], fence_after_s=60, **LITERAL)


@pytest.mark.chaos_long
@pytest.mark.timeout(600)
async def test_a_90_s_outage_on_a_provider_that_cannot_confirm(
    tmp_path: Path, database_url: str
) -> None:
    await outage_fences_then_reassigns(tmp_path, database_url, 90, fence_after_s=60, **LITERAL)
