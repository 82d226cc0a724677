"""`make demo`: one user's day with torpor, on this machine, narrated with timings.

A control plane on SQLite with the `local` provider: every host it acquires is a real
`torpor-agent` process here, with its own workspace folder and simulated GPUs (the NVML
double, built with gcc). The story goes through the HTTP API alone (demo/story.py):
register, create an instance, write work, idle detected, hibernated (host released), woken
on a new host, every byte checked, deleted. State under .demo/ (wiped at each start).

On a terminal the control plane stays up until Ctrl-C so you can poke at it; otherwise
(CI, a pipe) the demo stops once it has told the story.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

from demo.story import IDLE_WINDOW_S, DemoFailed, Narrator, agent_pids, print_timings, tell
from tests.support.processes import ControlPlane, free_port

DEMO_DIR = Path(".demo").resolve()
DEFAULT_HTTP_PORT, DEFAULT_GRPC_PORT = 8766, 8767


def port_or_any(port: int) -> int:
    """The default port when it is free (so the README's commands work), else any free one."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def start_control_plane(narrator: Narrator) -> ControlPlane:
    plane = ControlPlane(
        DEMO_DIR / "controlplane",
        http_port=port_or_any(DEFAULT_HTTP_PORT),
        grpc_port=port_or_any(DEFAULT_GRPC_PORT),
        extra_env={
            "TORPOR_HEARTBEAT_INTERVAL_S": "1",
            "TORPOR_LOCAL_IDLE_WINDOW_S": str(IDLE_WINDOW_S),
            "TORPOR_LOCAL_IDLE_GRACE_S": "0",
            "TORPOR_LOCAL_IDLE_POLL_INTERVAL_S": "1",
        },
    )
    narrator.say(f"starting the control plane (SQLite and local hosts in {plane.state_dir})")
    plane.start()
    narrator.say(
        f"control plane up: HTTP {plane.http_url} (OpenAPI at /docs), gRPC {plane.grpc_address}"
    )
    return plane


def stop_local_agents() -> None:
    """The local provider leaves its agents running across a control-plane restart; the demo
    is over, so they go too (SIGTERM to every process whose command line names .demo/)."""
    for pid in agent_pids(str(DEMO_DIR)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def show_how_to_explore(plane: ControlPlane) -> None:
    print(
        f"""
Explore while it runs (log in as ada@example.com / "correct horse battery staple"):
  {plane.http_url}/docs   (OpenAPI)      {plane.http_url}/metrics
  TORPOR_STATE_DIR={plane.state_dir} \\
    .venv/bin/torpor-controlplane operators add ada@example.com   (then GET /api/v1/hosts)
Press Ctrl-C to stop.""",
        flush=True,
    )


def main() -> int:
    narrator = Narrator()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    plane = start_control_plane(narrator)
    ok = True
    try:
        tell(plane.http_url, narrator)
        print_timings(narrator)
        if sys.stdin.isatty():
            show_how_to_explore(plane)
            stop_signals = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # so the wait takes them
            signal.sigwait(stop_signals)
    except DemoFailed as failure:
        narrator.say(f"DEMO FAILED: {failure}")
        ok = False
    except KeyboardInterrupt:
        pass
    finally:
        plane.stop(signal.SIGTERM)
        stop_local_agents()
        narrator.say(
            "control plane and local agents stopped; state kept in .demo/ until the next demo"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
