"""The foundation end to end: a control plane and three agents as real processes.

What a fleet operator relies on: agents join with one-time tokens, show up in
the HTTP API and in torporctl, come back by themselves after the control plane
is killed and restarted on the same database, leave cleanly on SIGTERM, and a
bad join token is refused with a line that says what to do.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import Agent, ControlPlane, torporctl, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

EX_CONFIG = 78
# Small heartbeat numbers keep the test fast; the protocol is the same as in production.
FAST_HEARTBEAT = {
    "TORPOR_HEARTBEAT_INTERVAL_S": "0.5",
    "TORPOR_HEARTBEAT_TTL_S": "2",
    "TORPOR_HEARTBEAT_GRACE_S": "2",
}


@pytest.fixture
def control_plane(tmp_path: Path, database_url: str) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path / "cp", database_url=database_url, extra_env=FAST_HEARTBEAT)
    plane.start()
    yield plane
    if plane.process is not None:
        plane.stop(signal.SIGKILL)


@pytest.fixture
def admin_token(control_plane: ControlPlane) -> str:
    return control_plane.cli("admin-tokens", "create", "e2e")


def hosts(plane: ControlPlane, token: str) -> dict[str, dict[str, Any]]:
    """Hosts from the HTTP API, keyed by hostname."""
    status, body = plane.http("GET", "/api/v1/hosts", token)
    assert status == 200, body
    return {host["hostname"]: host for host in body["items"]}


def all_connected(
    plane: ControlPlane, token: str, names: set[str], since: datetime | None = None
) -> bool:
    """True when every named host is connected with telemetry newer than `since`."""
    try:
        found = hosts(plane, token)
    except OSError:
        return False
    return all(
        name in found
        and found[name]["state"] == "connected"
        and found[name]["telemetry"] is not None
        and (since is None or datetime.fromisoformat(found[name]["connected_at"]) > since)
        for name in names
    )


def start_agents(plane: ControlPlane, root: Path, count: int) -> list[Agent]:
    agents = []
    for index in range(count):
        token = plane.cli("tokens", "create", "--ttl", "10m", "--note", f"agent {index}")
        agent = Agent(f"gpu-{index:02d}", root / f"agent-{index}", plane.grpc_address, token)
        agent.start()
        agents.append(agent)
    return agents


def test_fleet_joins_survives_a_control_plane_restart_and_leaves_cleanly(
    control_plane: ControlPlane, admin_token: str, tmp_path: Path
) -> None:
    agents = start_agents(control_plane, tmp_path, 3)
    names = {agent.name for agent in agents}
    try:
        wait_until(
            lambda: all_connected(control_plane, admin_token, names),
            30,
            "three agents to connect and report telemetry",
        )

        listed = torporctl(control_plane, admin_token, "hosts")
        assert listed.returncode == 0, listed.stderr
        rows = [line.split() for line in listed.stdout.splitlines()[1:]]
        assert sorted((row[1], row[2]) for row in rows) == sorted((n, "connected") for n in names)
        as_json = json.loads(torporctl(control_plane, admin_token, "-o", "json", "hosts").stdout)
        assert {host["hostname"] for host in as_json} == names

        # Kill the control plane outright, then start it again on the same database.
        control_plane.stop(signal.SIGKILL)
        restarted_at = datetime.now(UTC)
        control_plane.start()
        wait_until(
            lambda: all_connected(control_plane, admin_token, names, since=restarted_at),
            15,
            "every agent to reconnect to the restarted control plane",
        )
        assert all(agent.process is not None and agent.process.poll() is None for agent in agents)

        leaving = agents[0]
        assert leaving.stop(signal.SIGTERM) == 0, leaving.log()
        left = wait_until(
            lambda: (
                (h := hosts(control_plane, admin_token)[leaving.name])["state"] == "disconnected"
                and h
            ),
            10,
            "the stopped agent's host to show disconnected",
        )
        assert left["disconnected_at"] is not None
        assert "Traceback" not in leaving.log()
    finally:
        for agent in agents:
            if agent.process is not None:
                agent.stop(signal.SIGKILL)


def refused(plane: ControlPlane, home: Path, token: str) -> str:
    """Starts an agent with `token`, expects it to give up with EX_CONFIG; returns its log."""
    agent = Agent(home.name, home, plane.grpc_address, token)
    agent.start()
    assert agent.process is not None
    assert agent.process.wait(20) == EX_CONFIG, agent.log()
    assert "Traceback" not in agent.log()
    return agent.log()


def test_bad_expired_and_reused_join_tokens_are_refused(
    control_plane: ControlPlane, admin_token: str, tmp_path: Path
) -> None:
    assert "join token" in refused(control_plane, tmp_path / "wrong", "tjt_not-a-real-token")

    expired = control_plane.cli("tokens", "create", "--ttl", "1s")
    time.sleep(1.5)
    assert "expired" in refused(control_plane, tmp_path / "late", expired)

    token = control_plane.cli("tokens", "create")
    first = Agent("first", tmp_path / "first", control_plane.grpc_address, token)
    first.start()
    try:
        wait_until(
            lambda: all_connected(control_plane, admin_token, {"first"}),
            20,
            "the first agent to join",
        )
        assert "already used" in refused(control_plane, tmp_path / "second", token)
    finally:
        first.stop(signal.SIGKILL)
    assert set(hosts(control_plane, admin_token)) == {"first"}
