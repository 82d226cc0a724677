"""`make demo`: a control plane on SQLite and three local agents, shown connected.

Everything runs as real processes on this machine, state under .demo/ (wiped
at each start). On a terminal the fleet stays up until Ctrl-C so you can poke
at it; otherwise (CI, a pipe) the demo stops once it has shown the fleet.
"""

from __future__ import annotations

import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from tests.support.processes import Agent, ControlPlane, free_port, torporctl, wait_until

DEMO_DIR = Path(".demo").resolve()
AGENT_NAMES = ("gpu-a100-01", "gpu-h100-01", "gpu-h100-02")
DEFAULT_HTTP_PORT, DEFAULT_GRPC_PORT = 8766, 8767


def port_or_any(port: int) -> int:
    """The default port when it is free (so the README's commands work), else any free one."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


class Narrator:
    """Prints each step with the seconds since the demo began."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)


def connected_count(plane: ControlPlane, token: str) -> int:
    status, body = plane.http("GET", "/api/v1/hosts?state=connected", token)
    if status != 200:
        return 0
    with_telemetry = [host for host in body["items"] if host["telemetry"]]
    return len(with_telemetry) if len(with_telemetry) == len(AGENT_NAMES) else 0


def run(narrator: Narrator) -> tuple[ControlPlane, list[Agent], str]:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    plane = ControlPlane(
        DEMO_DIR / "controlplane",
        http_port=port_or_any(DEFAULT_HTTP_PORT),
        grpc_port=port_or_any(DEFAULT_GRPC_PORT),
        extra_env={"TORPOR_HEARTBEAT_INTERVAL_S": "2"},
    )
    narrator.say(f"starting the control plane (SQLite in {plane.state_dir})")
    plane.start()
    narrator.say(f"control plane up: HTTP {plane.http_url}, gRPC {plane.grpc_address}")
    token = plane.cli("admin-tokens", "create", "demo")
    narrator.say("created an admin token for torporctl")
    agents = []
    for name in AGENT_NAMES:
        join_token = plane.cli("tokens", "create", "--ttl", "10m", "--note", name)
        agent = Agent(name, DEMO_DIR / name, plane.grpc_address, join_token)
        agent.start()
        agents.append(agent)
        narrator.say(f"started agent {name} with a one-time join token")
    wait_until(lambda: connected_count(plane, token), 30, "the agents to connect")
    narrator.say("all agents joined, connected and reporting telemetry:\n")
    print(torporctl(plane, token, "hosts").stdout, flush=True)
    return plane, agents, token


def show_how_to_explore(plane: ControlPlane, token: str) -> None:
    print(
        f"""
Explore while it runs:
  export TORPOR_SERVER={plane.grpc_address} TORPOR_ADMIN_TOKEN={token}
  .venv/bin/torporctl hosts          .venv/bin/torporctl watch
  curl -H "Authorization: Bearer $TORPOR_ADMIN_TOKEN" {plane.http_url}/api/v1/hosts
  {plane.http_url}/docs   (OpenAPI)      {plane.http_url}/metrics
Press Ctrl-C to stop the fleet.""",
        flush=True,
    )


def main() -> int:
    narrator = Narrator()
    plane, agents, token = run(narrator)
    try:
        if sys.stdin.isatty():
            show_how_to_explore(plane, token)
            stop_signals = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # so the wait takes them
            signal.sigwait(stop_signals)
    except KeyboardInterrupt:
        pass
    finally:
        print()
        for agent in agents:
            code = agent.stop(signal.SIGTERM)
            narrator.say(f"agent {agent.name} stopped on SIGTERM (exit {code})")
        plane.stop(signal.SIGTERM)
        narrator.say("control plane stopped; state kept in .demo/ until the next demo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
