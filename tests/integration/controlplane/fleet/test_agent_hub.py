"""AgentHub: one stream per host, liveness deadlines, restart grace, commands."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from torpor.controlplane.errors import DeadlineExceeded, FailedPrecondition, NotFound
from torpor.controlplane.fleet.hub import AgentHub
from torpor.controlplane.fleet.schemas import Command, CommandResult, Hello, Ping
from torpor.controlplane.services import Services

pytestmark = pytest.mark.integration


async def joined(services: Services) -> Hello:
    token = await services.join_tokens.create(60)
    host_id = (await services.join_tokens.redeem(token, "gpu", "nonce")).host_id
    return Hello(host_id=host_id, hostname="gpu", agent_version="1", os="Linux")


async def eventually(check: Callable[[], bool], timeout_s: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def kinds(services: Services, host_id: str) -> list[str]:
    return [e.kind for e in await services.events.after(0, host_id)]


async def test_a_newer_stream_replaces_the_older(services: Services) -> None:
    hello = await joined(services)
    older, _ = await services.hub.connect(hello)
    newer, _ = await services.hub.connect(hello)
    assert older.closed and older.close_error is not None
    assert "replaced" in older.close_error.message
    await services.hub.disconnect(older, "old stream ended")  # must not unseat the newer one
    assert services.hub.is_connected(hello.host_id) and not newer.closed
    assert (await services.hosts.get(hello.host_id)).state == "connected"
    await services.hub.disconnect(newer, "agent stopped")
    assert (await services.hosts.get(hello.host_id)).state == "disconnected"
    assert await kinds(services, hello.host_id) == [
        "host.connected",
        "host.connected",
        "host.disconnected",
    ]


async def test_a_silent_host_is_lost_after_ttl_plus_grace(services: Services) -> None:
    """On a clock the test moves (a loaded machine's sleeps would race a real one)."""
    now = [0.0]
    hub = AgentHub(services.hosts, services.hub.policy, clock=lambda: now[0])
    lost_after = hub.policy.lost_after_s
    hello = await joined(services)
    stream, _ = await hub.connect(hello)
    for _ in range(4):  # messages keep it alive past several ttl+grace
        now[0] += lost_after * 0.75
        hub.touch(stream)
        await hub.reap_once()
    assert hub.is_connected(hello.host_id) and not stream.closed
    now[0] += lost_after * 0.99
    await hub.reap_once()
    assert hub.is_connected(hello.host_id)
    now[0] += lost_after * 0.02
    await hub.reap_once()
    assert stream.closed and not hub.is_connected(hello.host_id)
    assert (await services.hosts.get(hello.host_id)).state == "disconnected"
    lost = (await services.events.after(0, hello.host_id))[-1]
    assert (lost.kind, lost.severity) == ("host.lost", "warning")


async def test_a_restart_gives_connected_hosts_time_to_come_back(services: Services) -> None:
    back, away = await joined(services), await joined(services)
    for hello in (back, away):
        await services.hosts.record_hello(hello)
    now = [0.0]  # a clock the test moves: a restarted control plane's deadlines
    hub = AgentHub(services.hosts, services.hub.policy, clock=lambda: now[0])
    await hub.start()
    try:
        now[0] += hub.policy.lost_after_s * 0.9
        await hub.reap_once()
        assert (await services.hosts.get(away.host_id)).state == "connected"  # not yet
        await hub.connect(back)
        now[0] += hub.policy.lost_after_s * 0.2
        await hub.reap_once()  # the host that never came back is written off
        assert (await services.hosts.get(away.host_id)).state == "disconnected"
        assert (await kinds(services, away.host_id))[-1] == "host.lost"
        assert hub.is_connected(back.host_id)
        now[0] += hub.policy.lost_after_s
        await hub.reap_once()  # the one that came back, then fell silent, is lost too
        assert (await services.hosts.get(back.host_id)).state == "disconnected"
    finally:
        await hub.stop()


async def test_stop_ends_streams_without_marking_hosts_disconnected(services: Services) -> None:
    hello = await joined(services)
    stream, _ = await services.hub.connect(hello)
    await services.hub.stop()
    assert stream.closed
    assert (await services.hosts.get(hello.host_id)).state == "connected"


async def test_commands_are_answered_by_id(services: Services) -> None:
    hello = await joined(services)
    stream, _ = await services.hub.connect(hello)

    async def agent() -> None:
        command = await stream.next_outbound()
        assert isinstance(command, Command)
        services.hub.resolve(stream, CommandResult(command.id, ok=True))

    answering = asyncio.create_task(agent())
    round_trip_ms = await services.commands.ping(hello.host_id, timeout_s=5)
    await answering
    assert round_trip_ms >= 0
    with pytest.raises(DeadlineExceeded):
        await services.hub.send_command(hello.host_id, Command(Ping()), timeout_s=0.05)
    await services.hub.disconnect(stream, "bye")
    with pytest.raises(FailedPrecondition):
        await services.commands.ping(hello.host_id)
    with pytest.raises(NotFound):
        await services.commands.ping("h-missing")


async def test_a_host_released_on_purpose_is_never_lost(services: Services) -> None:
    """Its stream ends (the provider stopped it) or it falls silent (a frozen host being
    killed) while it is released: no `host.lost`, however long after; its row `released`."""
    now = [0.0]
    hub = AgentHub(services.hosts, services.hub.policy, clock=lambda: now[0])
    ended, silent = await joined(services), await joined(services)
    ended_stream, _ = await hub.connect(ended)
    silent_stream, _ = await hub.connect(silent)
    async with hub.releasing(ended.host_id):
        await hub.disconnect(ended_stream, "agent stopped")
    async with hub.releasing(silent.host_id):
        now[0] += hub.policy.lost_after_s * 2
        await hub.reap_once()  # past its deadline, but being released: not lost
        assert hub.is_connected(silent.host_id)
    assert silent_stream.closed and not hub.is_connected(silent.host_id)
    now[0] += hub.policy.lost_after_s * 2
    await hub.reap_once()
    for hello in (ended, silent):
        assert (await services.hosts.get(hello.host_id)).state == "released"
        assert "host.lost" not in await kinds(services, hello.host_id)
        assert (await kinds(services, hello.host_id))[-1] == "host.released"


async def test_a_failed_release_leaves_the_host_expected(services: Services) -> None:
    now = [0.0]
    hub = AgentHub(services.hosts, services.hub.policy, clock=lambda: now[0])
    hello = await joined(services)
    stream, _ = await hub.connect(hello)
    with pytest.raises(FailedPrecondition):
        async with hub.releasing(hello.host_id):
            await hub.disconnect(stream, "agent stopped")
            raise FailedPrecondition("the cloud API refused the terminate")
    now[0] += hub.policy.lost_after_s * 1.01
    await hub.reap_once()
    assert (await services.hosts.get(hello.host_id)).state == "disconnected"
    assert (await kinds(services, hello.host_id))[-1] == "host.lost"
