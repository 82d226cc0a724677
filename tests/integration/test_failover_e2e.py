"""Failover end to end with the local provider's real agent processes (SQLite and
PostgreSQL): kill -9 a running instance's agent mid-work -> the instance runs on a new host
with the workspace of its last snapshot, and the old agent, started again with its old
config, is fenced. Then a partition: kill -STOP the agent past ttl + grace (the cloud API
refusing to release it), failover, kill -CONT -> the old agent is fenced, the process
working in its workspace is ended, and it refuses the old epoch's commands while the new
host takes the new epoch's."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_instance_lifecycle_e2e import (
    AGENT,
    _lease_of,
    agent_pid,
    is_running,
    wait_for_state,
)
from tests.support.accounts import Account, sign_up
from tests.support.cannot_confirm import without_confirmation
from tests.support.controlplane import fast_settings
from tests.support.http import ApiClient, running_api
from tests.support.trees import describe, make_tree
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import HostRow
from torpor.controlplane.errors import Unavailable
from torpor.controlplane.fleet.schemas import Command, TakeSnapshot

pytestmark = [pytest.mark.integration, pytest.mark.chaos]
SPEC = {"gpu_type": "L4", "gpu_count": 1, "region": "local", "auto_hibernate": False}


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[ApiClient]:
    settings = fast_settings(
        tmp_path,
        database_url,
        local_root=tmp_path / "local",
        heartbeat_interval_s=0.5,
        heartbeat_ttl_s=2,
        heartbeat_grace_s=1,
        fence_after_s=4,
        fence_margin_s=2,  # the wait for an unconfirmed old host: short here, 26 s by default
    )
    async with running_api(settings) as client:
        try:
            yield client
        finally:
            await client.services.providers.get("local").stop_all()  # type: ignore[attr-defined]


async def moved_from(
    http: httpx.AsyncClient, owner: Account, ident: str, old_host: str
) -> dict[str, Any]:
    """Polls until the instance runs on another host than `old_host`."""
    for _ in range(1200):
        body = await wait_for_state(http, owner, ident, "running")
        if body["host_id"] != old_host and body["operation"] is None:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"instance {ident} never left host {old_host}")


async def kinds_of(api: ApiClient, host_id: str) -> list[str]:
    return [e.kind for e in await api.services.events.after(0, host_id, 1000)]


async def eventually(check: Any, timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition never became true")


async def running_with_work(api: ApiClient, owner: Account) -> tuple[dict[str, Any], Any]:
    """An instance with files, a snapshot of them, and work written after it."""
    created = await api.http.post("/api/v1/instances", json=SPEC, headers=owner.headers)
    assert created.status_code == 202, created.text
    first = await wait_for_state(api.http, owner, created.json()["id"], "running")
    workspace = Path(first["placement"]["workspace"])
    make_tree(workspace / "project", big_bytes=256 * 1024)
    saved = describe(workspace)
    taken = await api.http.post(
        f"/api/v1/instances/{first['id']}/snapshots", json={}, headers=owner.headers
    )
    assert taken.status_code == 201, taken.text
    (workspace / "after-the-snapshot.txt").write_text("lost with the host\n")
    return first, saved


async def test_kill_9_fails_over_and_the_old_agent_is_fenced(
    api: ApiClient, tmp_path: Path
) -> None:
    owner = await sign_up(api.http)
    first, saved = await running_with_work(api, owner)
    local_root = tmp_path / "local"
    host_folder = Path(first["placement"]["workspace"]).parent
    kept = tmp_path / "old-host"
    shutil.copytree(host_folder, kept, symlinks=True)  # its config and credential, to restart
    os.kill(agent_pid(local_root, _lease_of(first)), signal.SIGKILL)

    moved = await moved_from(api.http, owner, first["id"], first["host_id"])
    assert describe(Path(moved["placement"]["workspace"])) == saved  # the last snapshot
    status = await api.http.get(f"/api/v1/failover/status/{first['id']}", headers=owner.headers)
    assert status.json()["epoch"] == 2

    # the old agent comes back with its old config: it still holds epoch 1 and is fenced
    shutil.copytree(kept, host_folder, symlinks=True, dirs_exist_ok=True)
    old = await asyncio.create_subprocess_exec(
        str(AGENT),
        "run",
        "--config",
        str(host_folder / "agent.toml"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        await eventually(lambda: _has(api, first["host_id"], "host.fenced"))
        await _refuses_old_epoch(api, first["host_id"], moved["host_id"])
    finally:
        old.kill()
        await old.wait()


async def test_a_partitioned_host_is_fenced_and_its_work_stopped(
    api: ApiClient, tmp_path: Path
) -> None:
    # A provider that cannot confirm a release (an operator's own machines): only then does
    # a host get a self-fence bound (the local provider confirms: its hosts never fence).
    without_confirmation(api.services.providers)
    owner = await sign_up(api.http)
    first, saved = await running_with_work(api, owner)
    provider = api.services.providers.get("local")
    real_release = provider.release

    async def cloud_api_down(lease_id: str, *, lost: bool = False) -> None:  # it stays up
        if lease_id == _lease_of(first):
            raise Unavailable("the cloud API did not answer")
        await real_release(lease_id, lost=lost)

    provider.release = cloud_api_down  # type: ignore[method-assign]
    assigned: list[datetime] = []
    agents = api.services.agents
    real_assign = agents.assign

    async def noting_assign(*args: Any, **kwargs: Any) -> bool:
        assigned.append(utc_now())
        return await real_assign(*args, **kwargs)

    agents.assign = noting_assign  # type: ignore[method-assign]
    workspace = Path(first["placement"]["workspace"])
    worker = await asyncio.create_subprocess_exec(
        "sleep", "600", cwd=workspace, start_new_session=True
    )
    pid = agent_pid(tmp_path / "local", _lease_of(first))
    os.kill(pid, signal.SIGSTOP)
    try:
        moved = await moved_from(api.http, owner, first["id"], first["host_id"])
        assert describe(Path(moved["placement"]["workspace"])) == saved
        assert is_running(worker.pid)  # nothing stopped it yet: its agent is frozen
        async with api.services.sessions() as session:
            old_host = await session.get(HostRow, first["host_id"])
        assert old_host is not None and old_host.last_heartbeat_at is not None
        settings = api.services.timeouts
        wait_s = settings.fence_after_s + settings.fence_margin_s
        # the new host is assigned only once the old one must have fenced itself
        assert assigned[-1] >= old_host.last_heartbeat_at + timedelta(seconds=wait_s)
        events = await api.services.events.after(0, None, 1000, instance_id=first["id"])
        assert "failover.waiting_for_fence" in [e.kind for e in events]
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        await eventually(lambda: _has(api, first["host_id"], "host.fenced"))
        await eventually(lambda: _done(worker))
        await _refuses_old_epoch(api, first["host_id"], moved["host_id"])
    finally:
        provider.release = real_release  # type: ignore[method-assign]
        if worker.returncode is None:
            worker.kill()
        await worker.wait()


async def _has(api: ApiClient, host_id: str, kind: str) -> bool:
    return kind in await kinds_of(api, host_id)


async def _done(process: asyncio.subprocess.Process) -> bool:
    return process.returncode is not None


async def _refuses_old_epoch(api: ApiClient, old_host: str, new_host: str) -> None:
    """Never two hosts taking instance commands of one epoch: the old host refuses epoch 1
    (fenced), the new one refuses it too (it holds 2) and takes epoch 2."""
    hub = api.services.hub
    await eventually(lambda: _connected(api, old_host))
    for host, epoch, accepted in ((old_host, 1, False), (new_host, 1, False), (new_host, 2, True)):
        command = Command(TakeSnapshot("probe"), epoch=epoch)
        result = await hub.send_command(host, command, 60)
        assert result.ok is accepted, (host, epoch, result)
        if not accepted:
            assert result.fenced, result


async def _connected(api: ApiClient, host_id: str) -> bool:
    return api.services.hub.is_connected(host_id)
