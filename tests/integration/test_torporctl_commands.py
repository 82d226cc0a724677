"""Every torporctl command, run as the installed `torporctl` entry point against a live
control plane whose instance runs on a real local host (a `torpor-agent` process):
instances, instance, snapshots, hosts, host, ping, watch, tokens, hibernate and wake with
--wait, failover (--wait, status, readiness, settings), warmpool, savings (with the
comparison), drain --failover, drain and undrain; and the exit codes 1 (refused) and 2
(usage)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import sign_up
from tests.support.controlplane import fast_settings
from tests.support.http import ApiClient, running_api

pytestmark = pytest.mark.integration
TORPORCTL = Path(sys.executable).parent / "torporctl"
WAIT_S = 90.0


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)


def ctl_env(api: ApiClient, token: str) -> dict[str, str]:
    address = f"127.0.0.1:{api.control_plane.grpc_port}"
    return {**os.environ, "TORPOR_SERVER": address, "TORPOR_ADMIN_TOKEN": token}


async def ctl(api: ApiClient, token: str, *args: str) -> Ran:
    """`torporctl ARGS` in a subprocess; the control plane runs on this event loop."""
    process = await asyncio.create_subprocess_exec(
        str(TORPORCTL),
        *args,
        env=ctl_env(api, token),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), WAIT_S)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def test_every_command(tmp_path: Path, database_url: str) -> None:
    settings = fast_settings(
        tmp_path,
        database_url,
        local_root=tmp_path / "local",
        heartbeat_interval_s=0.5,
        heartbeat_ttl_s=10,
        heartbeat_grace_s=10,
    )
    async with running_api(settings) as api:
        try:
            await _story(api, await api.services.admin_tokens.create("ops"))
        finally:
            await api.services.providers.get("local").stop_all()  # type: ignore[attr-defined]


async def _story(api: ApiClient, token: str) -> None:
    ident = await _running_instance(api)
    await _reading(api, token, ident)
    await _tokens(api, token)
    await _watch(api, token)
    await _hibernate_and_wake(api, token, ident)
    await _failover(api, token, ident)
    await _failover_settings(api, token, ident)
    await _warmpool(api, token, ident)
    await _savings(api, token, ident)
    await _drain_by_failover(api, token, ident)
    await _drain(api, token, ident)


async def _running_instance(api: ApiClient) -> str:
    owner = await sign_up(api.http)
    offers = (await api.http.get("/api/v1/offers", headers=owner.headers)).json()
    offer = next(o for o in offers if o["provider"] == "local" and o["gpu_count"] == 1)
    body = {key: offer[key] for key in ("gpu_type", "gpu_count", "region")}
    created = await api.http.post(
        "/api/v1/instances", json={**body, "auto_hibernate": False}, headers=owner.headers
    )
    assert created.status_code == 202, created.text
    await api.services.operations.wait(created.json()["operation"]["id"])
    return str(created.json()["id"])


async def _reading(api: ApiClient, token: str, ident: str) -> None:
    listed = (await ctl(api, token, "-o", "json", "instances")).json()
    assert [(i["id"], i["state"]) for i in listed] == [(ident, "running")]
    table = await ctl(api, token, "instances", "--state", "running")
    assert table.code == 0 and table.out.startswith("ID ") and ident in table.out
    assert (await ctl(api, token, "instances", "--state", "hibernated")).out.strip() == (
        "no instances"
    )
    assert (await ctl(api, token, "instances", "--state", "asleep")).code == 2
    shown = await ctl(api, token, "instance", ident)
    assert shown.code == 0 and "running" in shown.out
    missing = await ctl(api, token, "instance", "i-nope")
    assert missing.code == 1 and "not found" in missing.err and len(missing.err.splitlines()) == 1
    host_id = (await ctl(api, token, "-o", "json", "instance", ident)).json()["host_id"]
    hosts = await ctl(api, token, "hosts")
    assert host_id in hosts.out and "connected" in hosts.out
    assert (await ctl(api, token, "-o", "json", "host", host_id)).json()["id"] == host_id
    assert "pong" in (await ctl(api, token, "ping", host_id)).out
    assert (await ctl(api, token, "snapshots", ident)).out.strip() == "no snapshots yet"


async def _tokens(api: ApiClient, token: str) -> None:
    created = await ctl(api, token, "tokens", "create", "--note", "gpu-07", "--ttl", "10m")
    assert created.code == 0 and created.out.startswith("tjt_"), created.err
    assert "agent.toml" in created.err
    listed = (await ctl(api, token, "-o", "json", "tokens", "list")).json()
    mine = next(t for t in listed if t["note"] == "gpu-07")
    assert mine["status"] == "valid"
    revoked = await ctl(api, token, "tokens", "revoke", mine["id"])
    assert revoked.out.strip() == f"join token {mine['id']} revoked"
    table = (await ctl(api, token, "tokens", "list")).out
    assert next(line for line in table.splitlines() if mine["id"] in line).split()[1] == "revoked"
    assert (await ctl(api, token, "tokens", "create", "--ttl", "soon")).code == 2
    assert (await ctl(api, token, "tokens", "revoke", "nope")).code == 1


async def _watch(api: ApiClient, token: str) -> None:
    """Replays the stored events (--after 0 is only new ones; 1 replays from the start)."""
    process = await asyncio.create_subprocess_exec(
        str(TORPORCTL),
        *("-o", "json", "watch", "--after", "1"),
        env=ctl_env(api, token),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    first = await asyncio.wait_for(process.stdout.readline(), WAIT_S)
    assert json.loads(first)["kind"]
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), WAIT_S) == 0


async def _hibernate_and_wake(api: ApiClient, token: str, ident: str) -> None:
    hibernated = await ctl(api, token, "hibernate", ident, "--wait")
    assert hibernated.code == 0, hibernated.err
    assert f"instance {ident} hibernating: hibernate" in hibernated.err  # the operation
    assert hibernated.out.strip() == f"instance {ident} is hibernated"
    snapshots = (await ctl(api, token, "-o", "json", "snapshots", ident)).json()
    assert [s["kind"] for s in snapshots] == ["final"]
    again = await ctl(api, token, "hibernate", ident)
    assert again.code == 1 and "hibernated" in again.err
    woken = await ctl(api, token, "-o", "json", "wake", ident, "--wait")
    assert woken.json()["state"] == "running"


async def _drain(api: ApiClient, token: str, ident: str) -> None:
    host_id = (await ctl(api, token, "-o", "json", "instance", ident)).json()["host_id"]
    drained = await ctl(api, token, "drain", host_id)
    assert drained.code == 0 and f"hibernating: {ident}" in drained.out, drained.err
    await api.services.drains.settled()
    assert (await ctl(api, token, "-o", "json", "instance", ident)).json()["state"] == (
        "hibernated"
    )
    host = (await ctl(api, token, "-o", "json", "host", host_id)).json()
    assert host["draining_since"] and host["drained_at"]
    assert "drained" in (await ctl(api, token, "host", host_id)).out
    undone = await ctl(api, token, "drain", host_id, "--undo")
    assert undone.out.strip() == f"host {host_id} takes placements again"
    assert "draining_since" not in (await ctl(api, token, "-o", "json", "host", host_id)).json()


async def _failover(api: ApiClient, token: str, ident: str) -> None:
    """A real failover of the small workspace: a last snapshot, a new local host, restore."""
    before = (await ctl(api, token, "-o", "json", "instance", ident)).json()
    ready = (await ctl(api, token, "-o", "json", "failover-readiness", ident)).json()
    assert ready["ready"] is True and ready["latest_snapshot_id"], ready
    assert "would lose up to" in (await ctl(api, token, "failover-readiness", ident)).out
    moved = await ctl(api, token, "failover", ident, "--wait")
    assert moved.code == 0, moved.err
    assert f"instance {ident} failing_over: failover" in moved.err
    assert moved.out.strip() == f"instance {ident} is running"
    after = (await ctl(api, token, "-o", "json", "instance", ident)).json()
    assert after["host_id"] and after["host_id"] != before["host_id"]
    status = (await ctl(api, token, "-o", "json", "failover-status", ident)).json()
    assert status["host_id"] == after["host_id"] and status["last_failover"]["outcome"] == "ok"
    assert status["placements"][1]["end_reason"] == "failed_over"
    assert status["last_failover_details"]["trigger"] == "requested"
    shown = (await ctl(api, token, "failover-status", ident)).out
    assert "EPOCH" in shown and "failed_over" in shown
    assert (await ctl(api, token, "failover", "i-nope")).code == 1


async def _failover_settings(api: ApiClient, token: str, ident: str) -> None:
    """The global settings, then an instance's changed and given back to global (no effect
    on the later steps: only readiness reads these two)."""
    shown = await ctl(api, token, "failover-settings")
    assert shown.code == 0 and shown.out.startswith("global failover settings"), shown.err
    assert "snapshot_every_s    900" in shown.out
    both = ("--set", "allow_other_region=true", "--set", "max_snapshot_age_s=3600")
    changed = await ctl(api, token, "failover-settings", ident, *both)
    assert changed.code == 0, changed.err
    assert "allow_other_region  true   instance" in changed.out
    assert "enabled             true   global" in changed.out
    own = (await ctl(api, token, "-o", "json", "failover-settings", ident)).json()
    assert own["overrides"] == {"allow_other_region": True, "max_snapshot_age_s": 3600}
    back = ("--set", "allow_other_region=inherit", "--set", "max_snapshot_age_s=inherit")
    inherited = (await ctl(api, token, "-o", "json", "failover-settings", ident, *back)).json()
    assert inherited["overrides"] == {} and inherited["effective"]["max_snapshot_age_s"] == 1800
    bad_key = await ctl(api, token, "failover-settings", ident, "--set", "snapshot_every=60")
    assert bad_key.code == 2 and bad_key.err.count("\n") == 1 and "'snapshot_every'" in bad_key.err
    too_often = await ctl(api, token, "failover-settings", "--set", "snapshot_every_s=30")
    assert too_often.code == 1 and "snapshot_every_s" in too_often.err


async def _warmpool(api: ApiClient, token: str, ident: str) -> None:
    """Target 0: the pool's bookkeeping without starting standby hosts."""
    assert "no warm pools" in (await ctl(api, token, "warmpool")).out
    instance = (await ctl(api, token, "-o", "json", "instance", ident)).json()
    offer = ("--gpu-type", instance["gpu_type"], "--region", instance["region"], "--shared")
    made = await ctl(api, token, "warmpool", "provision", *offer, "--target", "0")
    assert made.code == 0 and " created: 1x " in made.out and " for shared," in made.out, made.err
    team = ("--gpu-type", instance["gpu_type"], "--region", instance["region"], "--team")
    nobody = await ctl(api, token, "warmpool", "provision", *team, "t-nobody", "--target", "0")
    assert nobody.code == 1 and "team_id: no team t-nobody" in nobody.err, nobody.err
    again = await ctl(
        api,
        token,
        "-o",
        "json",
        "warmpool",
        "provision",
        *offer,
        "--target",
        "0",
        "--max-idle-s",
        "1h",
    )
    pool = again.json()["pool"]
    assert pool["max_idle_s"] == 3600 and "created" not in again.json()
    listed = (await ctl(api, token, "-o", "json", "warmpool")).json()
    assert [p["pool"]["id"] for p in listed] == [pool["id"]]
    table = (await ctl(api, token, "warmpool", "list")).out
    assert table.startswith("ID ") and "0.00 USD" in table
    assert (await ctl(api, token, "warmpool", "hosts")).out.strip() == "no standby hosts"
    assert "disabled" in (await ctl(api, token, "warmpool", "disable", pool["id"])).out
    assert (await ctl(api, token, "-o", "json", "warmpool", "enable", pool["id"])).json()["enabled"]
    assert "standby cost" in (await ctl(api, token, "warmpool", "status", pool["id"])).out
    cleaned = await ctl(api, token, "warmpool", "cleanup", pool["id"])
    assert cleaned.out.strip().startswith(f"warm pool {pool['id']} deleted"), cleaned.err
    gone = await ctl(api, token, "warmpool", "status", pool["id"])
    assert gone.code == 1 and "not found" in gone.err
    too_many = await ctl(api, token, "warmpool", "provision", *offer, "--target", "101")
    assert too_many.code == 1 and "target" in too_many.err
    assert (await ctl(api, token, "warmpool", "provision", *offer, "--target", "-1")).code == 2


async def _savings(api: ApiClient, token: str, ident: str) -> None:
    summary = (await ctl(api, token, "-o", "json", "savings", "--period", "all")).json()
    assert summary["amounts"]["currency"] == "USD" and summary["period"] == "all"
    assert float(summary["amounts"]["running_hours"]) > 0
    assert "saved" in (await ctl(api, token, "savings")).out
    team = (await ctl(api, token, "-o", "json", "instance", ident)).json()["team_id"]
    mine = (
        await ctl(api, token, "-o", "json", "savings", "--team", team, "--period", "all")
    ).json()
    assert mine["team_id"] == team  # its only team: the same hours, a moment later
    assert float(mine["amounts"]["running_hours"]) >= float(summary["amounts"]["running_hours"])
    nobody = (await ctl(api, token, "-o", "json", "savings", "--team", "t-none")).json()
    assert "running_hours" not in nobody["amounts"] or nobody["amounts"]["running_hours"] == "0"
    breakdown = (await ctl(api, token, "-o", "json", "savings", "breakdown")).json()
    assert [g["key"] for g in breakdown["by_instance"]] == [ident]
    assert ident in (await ctl(api, token, "savings", "breakdown")).out
    history = (await ctl(api, token, "-o", "json", "savings", "history", "--months", "2")).json()
    assert len(history) == 2
    assert (await ctl(api, token, "savings", "history", "--months", "121")).code == 1
    assert (await ctl(api, token, "savings", "--period", "fortnight")).code == 2
    await _comparison(api, token, ident)


async def _comparison(api: ApiClient, token: str, ident: str) -> None:
    gpu_type = (await ctl(api, token, "-o", "json", "instance", ident)).json()["gpu_type"]
    compared = (await ctl(api, token, "-o", "json", "savings", "comparison", gpu_type)).json()
    assert compared["gpu_type"] == gpu_type and float(compared["running_gpu_hours"]) > 0
    assert [r["cloud"] for r in compared["references"]] == ["aws", "azure", "gcp"]
    assert compared["reference_version"] == 2
    table = await ctl(api, token, "savings", "comparison", gpu_type)
    aws = compared["references"][0]
    row = next(line for line in table.out.splitlines() if line.startswith("aws "))
    assert table.code == 0 and "ALWAYS ON" in table.out, table.err
    assert row.split()[1:3] == [aws["region"], aws["instance_type"]]
    unknown = await ctl(api, token, "savings", "comparison", "H100")
    assert unknown.code == 1 and "known: " in unknown.err and gpu_type in unknown.err
    assert (await ctl(api, token, "savings", "comparison")).code == 2


async def _drain_by_failover(api: ApiClient, token: str, ident: str) -> None:
    host_id = (await ctl(api, token, "-o", "json", "instance", ident)).json()["host_id"]
    drained = await ctl(api, token, "drain", host_id, "--failover")
    assert drained.code == 0 and f"failing over: {ident}" in drained.out, drained.err
    await api.services.drains.settled()
    after = (await ctl(api, token, "-o", "json", "instance", ident)).json()
    assert after["state"] == "running" and after["host_id"] != host_id
    assert (await ctl(api, token, "-o", "json", "host", host_id)).json()["drained_at"]
