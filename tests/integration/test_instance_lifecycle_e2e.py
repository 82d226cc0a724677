"""End to end through the HTTP API alone, with the local provider's real agent processes:
register → create an instance → write files into its workspace → hibernate (the agent
process is gone, its folder deleted) → wake on a new host → every file identical → a
manual snapshot → delete (the host and the snapshot repository go). SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import Account, sign_up
from tests.support.controlplane import fast_settings
from tests.support.http import running_api
from tests.support.trees import describe, make_tree

pytestmark = pytest.mark.integration
STATE_TIMEOUT_S = 90.0

AGENT = Path(sys.executable).parent / "torpor-agent"


async def wait_for_state(
    http: httpx.AsyncClient, account: Account, ident: str, wanted: str
) -> dict[str, Any]:
    """Polls GET /instances/{id} until `wanted` (a failure state ends the wait early)."""
    deadline = asyncio.get_running_loop().time() + STATE_TIMEOUT_S
    while True:
        response = await http.get(f"/api/v1/instances/{ident}", headers=account.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["state"] == wanted:
            return body
        assert body["state"] != "failed", body["state_reason"]
        assert asyncio.get_running_loop().time() < deadline, f"still {body['state']}"
        await asyncio.sleep(0.1)


def agent_pid(local_root: Path, lease_id: str) -> int:
    lease = json.loads((local_root / "leases" / f"{lease_id}.json").read_text())
    return int(lease["pid"])


def exists(path: Path) -> bool:
    return path.exists()


def is_running(pid: int) -> bool:
    """True while `pid` is a live (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def test_create_hibernate_wake_delete(tmp_path: Path, database_url: str) -> None:
    local_root = tmp_path / "local"
    settings = fast_settings(
        tmp_path,
        database_url,
        local_root=local_root,
        heartbeat_interval_s=0.5,
        heartbeat_ttl_s=10,
        heartbeat_grace_s=10,
    )
    async with running_api(settings) as api:
        http = api.http
        try:
            await _lifecycle(http, await sign_up(http), local_root, tmp_path)
        finally:
            provider = api.services.providers.get("local")
            await provider.stop_all()  # type: ignore[attr-defined]


async def _lifecycle(
    http: httpx.AsyncClient, owner: Account, local_root: Path, tmp_path: Path
) -> None:
    offers = (await http.get("/api/v1/offers", headers=owner.headers)).json()
    offer = next(o for o in offers if o["provider"] == "local" and o["gpu_count"] == 1)
    spec = {key: offer[key] for key in ("gpu_type", "gpu_count", "region")}
    created = await http.post(
        "/api/v1/instances", json={**spec, "auto_hibernate": False}, headers=owner.headers
    )
    assert created.status_code == 202, created.text
    ident = created.json()["id"]
    first = await wait_for_state(http, owner, ident, "running")

    workspace = Path(first["placement"]["workspace"])
    make_tree(workspace / "project", big_bytes=512 * 1024)
    before = describe(workspace)
    pid = agent_pid(local_root, _lease_of(first))
    assert is_running(pid)

    hibernating = await http.post(f"/api/v1/instances/{ident}/hibernate", headers=owner.headers)
    assert hibernating.status_code == 202 and hibernating.json()["state"] == "hibernating"
    hibernated = await wait_for_state(http, owner, ident, "hibernated")
    assert hibernated["host_id"] is None and hibernated["latest_snapshot_id"]
    assert not is_running(pid)
    assert not exists(workspace.parent)

    woken = await http.post(f"/api/v1/instances/{ident}/wake", headers=owner.headers)
    assert woken.status_code == 202 and woken.json()["state"] == "waking"
    running = await wait_for_state(http, owner, ident, "running")
    new_workspace = Path(running["placement"]["workspace"])
    assert new_workspace != workspace
    assert describe(new_workspace) == before

    snapshots = await http.get(f"/api/v1/instances/{ident}/snapshots", headers=owner.headers)
    assert [s["kind"] for s in snapshots.json()["items"]] == ["final"]
    assert snapshots.json()["items"][0]["id"] == hibernated["latest_snapshot_id"]
    manual = await http.post(f"/api/v1/instances/{ident}/snapshots", json={}, headers=owner.headers)
    assert manual.status_code == 201, manual.text
    events = await http.get(f"/api/v1/instances/{ident}/events?limit=100", headers=owner.headers)
    kinds = [e["kind"] for e in events.json()["items"]]
    assert kinds[:2] == ["instance.created", "instance.running"]
    assert "instance.hibernated" in kinds and kinds[-1] == "instance.running"

    repository = Path(running["placement"]["repository"])
    orphan = repository / "snapshots" / ("ab" * 32)  # a manifest no record names, damaged
    orphan.write_bytes(b"not a manifest")  # too: it neither survives nor blocks the delete
    new_pid = agent_pid(local_root, _lease_of(running))
    deleted = await http.delete(f"/api/v1/instances/{ident}", headers=owner.headers)
    assert deleted.status_code == 200 and deleted.json()["state"] == "deleted"
    assert not is_running(new_pid) and not exists(new_workspace.parent)
    assert not exists(repository)  # every snapshot forgotten, then the repository removed
    gone = await http.get(f"/api/v1/instances/{ident}", headers=owner.headers)
    assert gone.status_code == 404


def _lease_of(instance: dict[str, Any]) -> str:
    """The lease is the host folder's name (<root>/hosts/<lease id>/workspace)."""
    return Path(instance["placement"]["workspace"]).parent.name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_restart_in_the_middle_of_a_hibernate_loses_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """The control plane stops right after the hibernate's snapshot step was journalled;
    a new one on the same database and state resumes it (the agents reconnect to the same
    port), and the instance wakes with every file."""
    local_root = tmp_path / "local"
    settings = fast_settings(
        tmp_path,
        database_url,
        local_root=local_root,
        grpc_port=free_port(),
        heartbeat_interval_s=0.5,
        heartbeat_ttl_s=10,
        heartbeat_grace_s=10,
    )
    async with running_api(settings) as api:
        owner = await sign_up(api.http)
        spec = {"gpu_type": "L4", "gpu_count": 1, "region": "local"}
        created = await api.http.post("/api/v1/instances", json=spec, headers=owner.headers)
        ident = created.json()["id"]
        first = await wait_for_state(api.http, owner, ident, "running")
        workspace = Path(first["placement"]["workspace"])
        make_tree(workspace / "project", big_bytes=256 * 1024)
        before = describe(workspace)
        started = await api.http.post(f"/api/v1/instances/{ident}/hibernate", headers=owner.headers)
        assert started.json()["operation"]["step"] == "snapshot"
    # stopped: the agent keeps running (a restart is not an outage), the journal says where

    async with running_api(settings) as api:
        try:
            hibernated = await wait_for_state(api.http, owner, ident, "hibernated")
            assert not exists(workspace.parent)
            await api.http.post(f"/api/v1/instances/{ident}/wake", headers=owner.headers)
            running = await wait_for_state(api.http, owner, ident, "running")
            assert describe(Path(running["placement"]["workspace"])) == before
            listed = await api.http.get(
                f"/api/v1/instances/{ident}/snapshots", headers=owner.headers
            )
            assert [s["id"] for s in listed.json()["items"]] == [hibernated["latest_snapshot_id"]]
        finally:
            await api.services.providers.get("local").stop_all()  # type: ignore[attr-defined]
