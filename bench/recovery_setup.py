"""What every recovery measurement starts from: an in-process control plane (SQLite) with
the `local` provider and the default heartbeat, and a running instance with a snapshot.
Shared by bench/failover.py (crash, frozen host) and bench/outage.py (control plane down)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.test_instance_lifecycle_e2e import wait_for_state
from tests.support.accounts import Account
from tests.support.controlplane import fast_settings
from tests.support.databases import sqlite_url
from tests.support.http import ApiClient
from torpor.controlplane.settings import Settings

MiB = 2**20
SPEC = {"gpu_type": "L4", "gpu_count": 1, "region": "local", "auto_hibernate": False}
HEARTBEAT = {
    name: Settings.model_fields[name].default
    for name in ("heartbeat_interval_s", "heartbeat_ttl_s", "heartbeat_grace_s")
}


def settings_for(root: Path, **overrides: Any) -> Settings:
    """Default heartbeat and fence bound (what production runs), state under `root`."""
    return fast_settings(
        root, sqlite_url(root), local_root=root / "local", **HEARTBEAT, **overrides
    )


async def running_instance(api: ApiClient, owner: Account) -> dict[str, Any]:
    created = await api.http.post("/api/v1/instances", json=SPEC, headers=owner.headers)
    assert created.status_code == 202, created.text
    return await wait_for_state(api.http, owner, created.json()["id"], "running")


async def take_snapshot(api: ApiClient, owner: Account, ident: str) -> str:
    taken = await api.http.post(
        f"/api/v1/instances/{ident}/snapshots", json={}, headers=owner.headers, timeout=3600
    )
    assert taken.status_code == 201, taken.text
    return str(taken.json()["id"])
