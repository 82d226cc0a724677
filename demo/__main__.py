"""`make demo`: a control plane on SQLite and three local agents on simulated GPU hosts,
then a workspace snapshot round trip.

Everything runs as real processes on this machine, state under .demo/ (wiped at each
start). Each agent reads its GPUs through the real pynvml from the NVML test double
(tests/support/nvml_double, a fake libnvidia-ml.so.1 built with gcc) driven by its own
scenario file: 8 busy H100s, 4 idle A100s, one H100 with a process holding memory. The
snapshot step runs `torpor-agent snapshot` on a seeded 64 MiB workspace (bench/workspace.py):
create, mutate, create again (incremental), restore, compare byte for byte.

On a terminal the fleet stays up until Ctrl-C so you can poke at it; otherwise (CI, a
pipe) the demo stops once it has shown everything.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.workspace import diff, generate, manifest, mutate
from tests.support.nvml_double import Scenario, build
from tests.support.nvml_double.build import LIBRARY_NAME
from tests.support.processes import BIN, Agent, ControlPlane, free_port, torporctl, wait_until
from torpor.controlplane.providers.local.nvml import NvmlBuildError

DEMO_DIR = Path(".demo").resolve()
AGENT_NAMES = ("gpu-a100-01", "gpu-h100-01", "gpu-h100-02")
DEFAULT_HTTP_PORT, DEFAULT_GRPC_PORT = 8766, 8767
GIB, MIB = 2**30, 2**20
WORKSPACE_BYTES = 64 * MIB
WORKSPACE_SEED = 0


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


# ---------------------------------------------------------------- simulated GPUs


def scenario_for(name: str, path: Path) -> Scenario:
    """The GPUs host `name` reports: what each demo host is meant to show."""
    if name == "gpu-a100-01":  # four A100s nobody uses: idle
        scenario = Scenario(path, gpus=4)
        for gpu in scenario.gpus:
            gpu.name, gpu.power_mw, gpu.temp = "NVIDIA A100-SXM4-80GB", 58_000, 31
    elif name == "gpu-h100-01":  # eight H100s training: busy
        scenario = Scenario(path, gpus=8)
        for index, gpu in enumerate(scenario.gpus):
            gpu.util, gpu.mem_util, gpu.temp = 90 + index, 60, 71
            gpu.mem_used, gpu.power_mw = 71 * GIB, 640_000
            gpu.extra["compute"] = f"{31000 + index}:{70 * GIB}"
    else:  # one H100 at 0 % with a process holding memory (an inference server): busy
        scenario = Scenario(path, gpus=1)
        gpu = scenario.gpus[0]
        gpu.mem_used = 22 * GIB
        gpu.extra["compute"] = f"4242:{22 * GIB}"
    host = AGENT_NAMES.index(name)
    for index, gpu in enumerate(scenario.gpus):
        gpu.uuid = f"GPU-{host:08d}-demo-{index:04d}-0000-000000000000"
    scenario.write()
    return scenario


def simulated_gpus() -> Path | None:
    """The folder holding the NVML double, or None (with a line saying why) without gcc."""
    if shutil.which("gcc") is None:
        print("GPUs are not simulated: gcc not found (install gcc to see them)", flush=True)
        return None
    try:
        return build("current")
    except (OSError, subprocess.CalledProcessError, NvmlBuildError) as error:
        print(f"GPUs are not simulated: building the NVML double failed ({error})", flush=True)
        return None


def gpu_env(library: Path | None, name: str) -> tuple[dict[str, str], str]:
    """The agent's environment for its simulated GPUs, and what they are in words."""
    if library is None:
        return {}, "no GPUs"
    DEMO_DIR.joinpath(name).mkdir(parents=True, exist_ok=True)
    scenario = scenario_for(name, DEMO_DIR / name / "gpus.txt")
    described = f"{len(scenario.gpus)}x {scenario.gpus[0].name}"
    return {"LD_LIBRARY_PATH": str(library), **scenario.env()}, described


def agent_signals(agent: Agent) -> list[dict[str, Any]]:
    """The signals of the agent's last decision, read from `<state_dir>/status.json` (what
    `torpor-agent status` prints; read directly so that polling costs no process)."""
    try:
        written = json.loads((agent.home / "state" / "status.json").read_text())
    except (OSError, ValueError):
        return []
    signals: list[dict[str, Any]] = written["decision"]["signals"]
    return signals


def status_line(agent: Agent, shown_reasons: int = 2) -> str:
    """How many GPUs are busy, then the last line of `torpor-agent status` (the idle decision
    in words), its reasons cut to the first `shown_reasons`."""
    done = subprocess.run(
        [str(BIN / "torpor-agent"), "status", "--config", str(agent.config_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    summary = lines[-1] if lines else f"(no status: {done.stderr.strip()})"
    # the table above it (SIGNAL VALUE VERDICT ...) and the summary are one decision
    table = [line for line in lines[:-1] if re.match(r"gpu\d+\.", line)]
    gpus = {line.split(".")[0] for line in table}
    busy = {line.split(".")[0] for line in table if re.search(r"\s\sbusy\b", line)}
    head, colon, reasons = summary.partition(": ")
    parts = reasons.split("; ")
    if colon and len(parts) > shown_reasons:
        more = len(parts) - shown_reasons
        summary = f"{head}: {'; '.join(parts[:shown_reasons])}; ... (+{more} more)"
    gpu_count = f"GPUs busy {len(busy)}/{len(gpus)}" if gpus else "no GPUs"
    return f"{gpu_count.ljust(13)}  {summary}"


def cpu_busy(agent: Agent) -> bool:
    return any(s["name"] == "host.cpu" and s["verdict"] == "busy" for s in agent_signals(agent))


def has_gpu_signals(agent: Agent, simulated: bool) -> bool:
    signals = agent_signals(agent)
    return bool(signals) and (not simulated or any(s["name"].startswith("gpu0.") for s in signals))


def connected_count(plane: ControlPlane, token: str, simulated: bool) -> int:
    status, body = plane.http("GET", "/api/v1/hosts?state=connected", token)
    if status != 200:
        return 0
    reporting = [
        host for host in body["items"] if host["telemetry"] and (not simulated or host["gpus"])
    ]
    return len(reporting) if len(reporting) == len(AGENT_NAMES) else 0


# ---------------------------------------------------------------- snapshots


def snapshot_cli(config: Path, *args: str) -> tuple[dict[str, Any], float]:
    """Runs `torpor-agent snapshot --config CONFIG ARGS --json`; its JSON and wall seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "torpor-agent"), "snapshot", "--config", str(config), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"torpor-agent snapshot {' '.join(args)} failed: {done.stderr}")
    body: dict[str, Any] = json.loads(done.stdout)
    return body, elapsed


def snapshot_round_trip(narrator: Narrator) -> bool:
    """Create, mutate, create again, restore, compare; prints a table. True when equal."""
    root = DEMO_DIR / "snapshot"
    workspace, repository, restored = root / "workspace", root / "repo", root / "restored"
    config = root / "agent.toml"
    generate(workspace, WORKSPACE_BYTES, WORKSPACE_SEED)
    config.write_text(f'[snapshot]\nworkspace = "{workspace}"\nrepository = "{repository}"\n')
    narrator.say(
        f"generated a {WORKSPACE_BYTES // MIB} MiB workspace (seed {WORKSPACE_SEED}): "
        "bf16 weights, checkpoints, datasets, a venv, symlinks"
    )
    first, first_s = snapshot_cli(config, "create")
    changed = mutate(workspace)
    narrator.say(
        f"first snapshot {first['id'][:12]}; then a training session wrote "
        f"{changed.bytes_written / MIB:.1f} MiB ({changed.files_changed} files changed, "
        f"{changed.files_added} added, {changed.files_deleted} deleted)"
    )
    second, second_s = snapshot_cli(config, "create")
    restore, restore_s = snapshot_cli(config, "restore", "latest", "--target", str(restored))
    problems = diff(manifest(workspace), manifest(restored))
    rows = [
        ("STEP", "TIME", "BYTES", "NEW (stored)"),
        ("first snapshot", f"{first_s:.2f} s", mib(first["bytes_read"]), new(first)),
        ("second snapshot", f"{second_s:.2f} s", mib(second["bytes_read"]), new(second)),
        ("restore latest", f"{restore_s:.2f} s", mib(restore["bytes"]), "-"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    narrator.say(f"snapshot round trip (repository {repository.relative_to(DEMO_DIR.parent)}):\n")
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    verdict = "ok" if not problems else "MISMATCH: " + "; ".join(problems)
    print(f"\n  byte for byte: {verdict}\n", flush=True)
    return not problems


def mib(count: int) -> str:
    return f"{count / MIB:.1f} MiB"


def new(stats: dict[str, Any]) -> str:
    return f"{mib(stats['bytes_new'])} ({mib(stats['stored_new'])})"


# ---------------------------------------------------------------- the demo


def run(narrator: Narrator) -> tuple[ControlPlane, list[Agent], str, bool]:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    library = simulated_gpus()
    if library is not None:
        narrator.say(f"built the NVML double ({library / LIBRARY_NAME})")
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
        env, gpus = gpu_env(library, name)
        agent.start(env)
        agents.append(agent)
        narrator.say(f"started agent {name} ({gpus}) with a one-time join token")
    simulated = library is not None
    wait_until(lambda: connected_count(plane, token, simulated), 30, "the agents to connect")
    narrator.say("all agents joined, connected and reporting telemetry:\n")
    print(torporctl(plane, token, "hosts").stdout, flush=True)
    for agent in agents:
        wait_until(lambda a=agent: has_gpu_signals(a, simulated), 30, f"{agent.name}'s status")
    for _ in range(5):  # starting the fleet keeps this machine's CPU busy a moment
        if not any(cpu_busy(a) for a in agents):
            break
        time.sleep(1)  # else host.cpu shows as busy below: an honest reading of this machine
    narrator.say("each agent's idle decision (torpor-agent status, idle window 15m):\n")
    width = max(len(name) for name in AGENT_NAMES)
    for agent in agents:
        line = status_line(agent)
        for _ in range(3):  # seen: a simulated host's status briefly reading "NVML unavailable"
            if simulated and line.startswith("GPUs busy"):
                break
            time.sleep(1)
            line = status_line(agent)
        print(f"  {agent.name.ljust(width)}  {line}")
    print(flush=True)
    ok = snapshot_round_trip(narrator)
    return plane, agents, token, ok


def show_how_to_explore(plane: ControlPlane, token: str) -> None:
    print(
        f"""
Explore while it runs:
  export TORPOR_SERVER={plane.grpc_address} TORPOR_ADMIN_TOKEN={token}
  .venv/bin/torporctl hosts          .venv/bin/torporctl watch
  .venv/bin/torpor-agent status --config .demo/gpu-h100-02/agent.toml
  .venv/bin/torpor-agent snapshot --config .demo/snapshot/agent.toml list
  curl -H "Authorization: Bearer $TORPOR_ADMIN_TOKEN" {plane.http_url}/api/v1/hosts
  {plane.http_url}/docs   (OpenAPI)      {plane.http_url}/metrics
Press Ctrl-C to stop the fleet.""",
        flush=True,
    )


def main() -> int:
    narrator = Narrator()
    plane, agents, token, ok = run(narrator)
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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
