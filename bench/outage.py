"""A control-plane outage longer than the fence bound (`make bench`, via bench/failover.py).

A running instance with a snapshot and a live workload process in its workspace; the
in-process control plane stops (its agents are left running, as a crash would leave
them) for `down_s` — 90 s by default, above the 60 s fence bound — and starts again on the
same database and gRPC port. Reported: did the workload survive, how many failovers the
return started, and how long after the control plane came back the instance is `running`
and takes a snapshot again (None: not within BACK_TIMEOUT_S; the last refusal is kept).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench import workspace
from bench.recovery_setup import running_instance, settings_for, take_snapshot
from tests.integration.test_instance_lifecycle_e2e import is_running
from tests.support.accounts import Account, sign_up
from tests.support.http import ApiClient, running_api
from tests.support.processes import free_port

DEFAULT_OUTAGE_S = float(os.environ.get("TORPOR_BENCH_OUTAGE_S", "90"))
BACK_TIMEOUT_S = 300.0  # after the control plane returns: running and snapshot-able by then


@dataclass(frozen=True)
class Outage:
    down_s: float
    fence_after_s: float
    workload_survived: bool
    back_s: float | None
    """Control plane up again -> instance `running` and a snapshot taken; None: never."""
    failovers: int
    note: str


async def measure_outage(root: Path, size: int, down_s: float) -> Outage:
    """Stops the control plane for `down_s` under a running instance with a live workload,
    starts it again on the same database and gRPC port, and times its way back."""
    settings = settings_for(root, grpc_port=free_port())
    async with running_api(settings) as api:
        owner = await sign_up(api.http)
        first = await running_instance(api, owner)
        work = Path(first["placement"]["workspace"])
        workspace.generate(work / "work", size)
        await take_snapshot(api, owner, first["id"])
    worker = await asyncio.create_subprocess_exec(
        "sleep", "86400", cwd=work, start_new_session=True
    )
    try:
        await asyncio.sleep(down_s)  # the agents are left running: their bound runs out
        async with running_api(settings) as api:
            try:
                back_s, note = await _back_to_work(api, owner, first["id"])
                survived = is_running(worker.pid)
                events = await api.services.events.after(0, None, 100_000, first["id"])
                failovers = sum(1 for e in events if e.kind == "instance.failover_started")
            finally:
                await api.services.providers.get("local").stop_all()  # type: ignore[attr-defined]
    finally:
        if worker.returncode is None:
            worker.kill()
        await worker.wait()
    return Outage(down_s, settings.fence_after_s, survived, back_s, failovers, note)


async def _back_to_work(api: ApiClient, owner: Account, ident: str) -> tuple[float | None, str]:
    """Seconds until the instance is `running` and takes a snapshot; None and the last
    refusal if it does not within BACK_TIMEOUT_S."""
    started = time.monotonic()
    last = "never running"
    while time.monotonic() - started < BACK_TIMEOUT_S:
        found = await api.http.get(f"/api/v1/instances/{ident}", headers=owner.headers)
        body = found.json()
        if body.get("state") == "running" and body.get("operation") is None:
            taken = await api.http.post(
                f"/api/v1/instances/{ident}/snapshots", json={}, headers=owner.headers, timeout=600
            )
            if taken.status_code == 201:
                return time.monotonic() - started, f"running on {body['host_id']}"
            last = f"snapshot refused: {taken.status_code} {taken.text[:120]}"
        else:
            last = f"state {body.get('state')}"
        await asyncio.sleep(0.5)
    return None, last
