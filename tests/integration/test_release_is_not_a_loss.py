"""A release is not a loss, and a lost host is killed outright: real local agents over real
sockets (SQLite and PostgreSQL).

Hosts given back on purpose — a hibernate, a delete, a warm standby released — raise no
`host.lost`, however long after; their rows are `released` and leave the default `GET
/hosts`. A crashed agent still is `host.lost`. A frozen (SIGSTOPped) agent is SIGKILLed
when failover gives its lease back: its instance moves on without the SIGTERM grace (set
to 10 minutes here, so a release that waited it could not finish within the test). A
released host whose agent comes back anyway is accepted with a warning and fenced.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_failover_e2e import eventually, kinds_of, moved_from, running_with_work
from tests.integration.test_instance_lifecycle_e2e import (
    AGENT,
    _lease_of,
    agent_pid,
    is_running,
    wait_for_state,
)
from tests.support.accounts import Account, make_operator, sign_up
from tests.support.controlplane import fast_settings
from tests.support.http import ApiClient, running_api
from tests.support.trees import describe

pytestmark = [pytest.mark.integration, pytest.mark.chaos]
SPEC = {"gpu_type": "L4", "gpu_count": 1, "region": "local", "auto_hibernate": False}
LOST_AFTER_S = 3.0  # ttl 2 + grace 1
MARGIN_S = 2.0


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
        fence_margin_s=2,
        local_agent_stop_timeout_s=600,  # a graceful stop that hangs would fail the test
    )
    async with running_api(settings) as client:
        try:
            yield client
        finally:
            await client.services.providers.get("local").stop_all()  # type: ignore[attr-defined]


async def _running(api: ApiClient, owner: Account) -> dict[str, Any]:
    created = await api.http.post("/api/v1/instances", json=SPEC, headers=owner.headers)
    assert created.status_code == 202, created.text
    return await wait_for_state(api.http, owner, created.json()["id"], "running")


async def _hibernated_host(api: ApiClient, owner: Account) -> str:
    instance = await _running(api, owner)
    reply = await api.http.post(
        f"/api/v1/instances/{instance['id']}/hibernate", headers=owner.headers
    )
    assert reply.status_code == 202, reply.text
    await wait_for_state(api.http, owner, instance["id"], "hibernated")
    return str(instance["host_id"])


async def _deleted_host(api: ApiClient, owner: Account) -> str:
    instance = await _running(api, owner)
    reply = await api.http.delete(f"/api/v1/instances/{instance['id']}", headers=owner.headers)
    assert reply.status_code in (200, 202), reply.text

    async def gone() -> bool:
        found = await api.http.get(f"/api/v1/instances/{instance['id']}", headers=owner.headers)
        return found.status_code == 404

    await eventually(gone)
    return str(instance["host_id"])


async def _released_standby_host(api: ApiClient, operator: Account, team_id: str) -> str:
    pools = api.services.warmpool
    body = {**SPEC, "target": 1, "team_id": team_id}
    pool = await api.http.post("/api/v1/warmpool/provision", json=body, headers=operator.headers)
    assert pool.status_code == 201, pool.text
    await pools.reconciler.tick()
    [standby] = await pools.hosts()
    assert standby.state == "ready" and standby.host_id
    cleanup = await api.http.delete(
        f"/api/v1/warmpool/cleanup/{pool.json()['id']}", headers=operator.headers
    )
    assert cleanup.status_code in (200, 204), cleanup.text
    return standby.host_id


async def _hosts(api: ApiClient, operator: Account, query: str = "") -> dict[str, str]:
    listed = await api.http.get(f"/api/v1/hosts{query}", headers=operator.headers)
    assert listed.status_code == 200, listed.text
    return {h["id"]: h["state"] for h in listed.json()["items"]}


async def _host_kinds(api: ApiClient, host_id: str) -> list[str]:
    """The host's own events (`host.*`), not its instances' that name it too."""
    return [kind for kind in await kinds_of(api, host_id) if kind.startswith("host.")]


async def test_hosts_released_on_purpose_are_never_lost(api: ApiClient, tmp_path: Path) -> None:
    owner, operator = await sign_up(api.http), await sign_up(api.http)
    await make_operator(api.services, operator.email)
    released = [
        await _hibernated_host(api, owner),
        await _deleted_host(api, owner),
        await _released_standby_host(api, operator, owner.team_id),
    ]
    await api.services.warmpool.reconciler.stop()
    await asyncio.sleep(LOST_AFTER_S + MARGIN_S)  # long past the moment one would be lost
    for host_id in released:
        kinds = await _host_kinds(api, host_id)
        assert "host.lost" not in kinds and kinds[-1] == "host.released", (host_id, kinds)
    assert not set(released) & set(await _hosts(api, operator))
    assert await _hosts(api, operator, "?state=released") == dict.fromkeys(released, "released")

    crashed = await _running(api, owner)  # no snapshot: it stays, its host is lost
    os.kill(agent_pid(tmp_path / "local", _lease_of(crashed)), signal.SIGKILL)

    async def lost() -> bool:
        return "host.lost" in await kinds_of(api, crashed["host_id"])

    await eventually(lost)
    assert (await _hosts(api, operator))[crashed["host_id"]] == "disconnected"


async def test_a_frozen_host_is_killed_and_its_instance_moves(
    api: ApiClient, tmp_path: Path
) -> None:
    owner = await sign_up(api.http)
    first, saved = await running_with_work(api, owner)
    host_folder = Path(first["placement"]["workspace"]).parent
    kept = tmp_path / "old-host"
    shutil.copytree(host_folder, kept, symlinks=True)  # its config and credential, to revive
    pid = agent_pid(tmp_path / "local", _lease_of(first))
    os.kill(pid, signal.SIGSTOP)
    try:
        moved = await moved_from(api.http, owner, first["id"], first["host_id"])
    finally:
        if is_running(pid):
            os.kill(pid, signal.SIGCONT)
    assert not is_running(pid)  # killed while frozen: SIGTERM alone never ends a stopped one
    assert describe(Path(moved["placement"]["workspace"])) == saved
    kinds = await _host_kinds(api, first["host_id"])
    assert "host.lost" in kinds and kinds[-1] == "host.released", kinds
    events = await api.services.events.after(0, None, 1000, instance_id=first["id"])
    assert "instance.release_failed" not in [e.kind for e in events]
    assert "failover.waiting_for_fence" not in [e.kind for e in events]  # its kill confirmed

    # released, yet its agent comes back (a provider that said "gone" too early): it is
    # accepted, listed again with a warning, and fenced (its instance is placed elsewhere)
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

        async def fenced() -> bool:
            return "host.fenced" in await _host_kinds(api, first["host_id"])

        await eventually(fenced)
        kinds = await _host_kinds(api, first["host_id"])
        assert "host.reconnected_after_release" in kinds, kinds
    finally:
        old.kill()
        await old.wait()
