"""The control plane's hot path: agents joining, connecting and heartbeating.

Simulated agents (the generated gRPC stubs, in this process) join a real
`torpor-controlplane serve` on SQLite over real sockets, then send telemetry
at a fixed total rate. The control plane's CPU time over the steady phase,
divided by the heartbeats it received, gives its cost per heartbeat and so
how many hosts one core can serve at the default 5 s interval. No reference
tool does this job, so the table shows absolute figures only.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import psutil

from tests.support.processes import ControlPlane
from torpor.common.timestamps import to_timestamp, utc_now
from torpor.proto.v1 import agent_pb2, agent_pb2_grpc, common_pb2

AGENTS = 20
RATE_PER_S = 400  # heartbeats per second across all agents (2,000 hosts at 5 s)
STEADY_S = 10.0
PRODUCTION_INTERVAL_S = 5.0


@dataclass
class Sample:
    join_ms: float
    welcome_ms: float


def telemetry() -> agent_pb2.AgentMessage:
    host = common_pb2.HostTelemetry(
        cpu_percent=3.5,
        cpu_count=32,
        memory_total_bytes=2**38,
        memory_used_bytes=2**34,
        disk_path="/workspace",
    )
    return agent_pb2.AgentMessage(
        telemetry=common_pb2.Telemetry(at=to_timestamp(utc_now()), host=host)
    )


async def one_agent(
    address: str, token: str, index: int, stop: asyncio.Event, sent: list[int]
) -> Sample:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        started = time.perf_counter()
        joined = await stub.Join(
            agent_pb2.JoinRequest(
                join_token=token, hostname=f"bench-{index}", join_nonce=f"bench-nonce-{index}"
            )
        )
        join_ms = (time.perf_counter() - started) * 1000
        outgoing: asyncio.Queue[agent_pb2.AgentMessage | None] = asyncio.Queue()
        await outgoing.put(
            agent_pb2.AgentMessage(
                seq=1,
                hello=agent_pb2.Hello(
                    host_id=joined.host_id, hostname=f"bench-{index}", agent_version="bench"
                ),
            )
        )

        async def messages():  # type: ignore[no-untyped-def]
            while (message := await outgoing.get()) is not None:
                yield message

        started = time.perf_counter()
        call = stub.Connect(
            messages(), metadata=(("authorization", f"Bearer {joined.host_credential}"),)
        )
        await call.read()
        welcome_ms = (time.perf_counter() - started) * 1000
        interval = AGENTS / RATE_PER_S
        while not stop.is_set():
            await outgoing.put(telemetry())
            sent[0] += 1
            await asyncio.sleep(interval)
        await outgoing.put(None)
        call.cancel()
        return Sample(join_ms, welcome_ms)


async def drive(plane: ControlPlane, tokens: list[str]) -> tuple[list[Sample], float, int]:
    process = psutil.Process(plane.process.pid)  # type: ignore[union-attr]
    stop, sent = asyncio.Event(), [0]
    tasks = [
        asyncio.create_task(one_agent(plane.grpc_address, token, i, stop, sent))
        for i, token in enumerate(tokens)
    ]
    await asyncio.sleep(2.0)  # every agent joined and connected
    cpu_before, sent_before = sum(process.cpu_times()[:2]), sent[0]
    await asyncio.sleep(STEADY_S)
    cpu_s = sum(process.cpu_times()[:2]) - cpu_before
    heartbeats = sent[0] - sent_before
    stop.set()
    return await asyncio.gather(*tasks), cpu_s, heartbeats


def run(workdir: Path) -> list[tuple[str, str, str]]:
    """Returns table rows: (metric, torpor, note)."""
    plane = ControlPlane(workdir / "stream-ingest", extra_env={"TORPOR_LOG_LEVEL": "warning"})
    plane.start()
    try:
        tokens = [plane.cli("tokens", "create", "--ttl", "10m") for _ in range(AGENTS)]
        samples, cpu_s, heartbeats = asyncio.run(drive(plane, tokens))
        rss_mb = psutil.Process(plane.process.pid).memory_info().rss / 2**20  # type: ignore[union-attr]
    finally:
        plane.stop()
    per_beat_ms = cpu_s * 1000 / max(heartbeats, 1)
    return [
        ("join (token -> credential), p50", f"{_p50([s.join_ms for s in samples]):.1f} ms", ""),
        ("connect (stream -> Welcome), p50", f"{_p50([s.welcome_ms for s in samples]):.1f} ms", ""),
        (
            "heartbeats ingested",
            f"{heartbeats / STEADY_S:.0f}/s",
            f"{AGENTS} streams, {STEADY_S:.0f} s steady",
        ),
        ("control-plane CPU per heartbeat", f"{per_beat_ms:.2f} ms", "SQLite, one process"),
        (
            "hosts per core at 5 s heartbeats",
            f"{PRODUCTION_INTERVAL_S * 1000 / per_beat_ms:,.0f}",
            "derived",
        ),
        ("control-plane resident memory", f"{rss_mb:.0f} MB", ""),
    ]


def _p50(values: list[float]) -> float:
    return statistics.median(values)
