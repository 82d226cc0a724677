"""HostService records what the agent stream reports."""

from __future__ import annotations

import pytest

from torpor.controlplane.errors import InvalidArgument, NotFound
from torpor.controlplane.fleet.schemas import Hello
from torpor.controlplane.services import Services

pytestmark = pytest.mark.integration


async def joined_host(services: Services, name: str = "gpu-01") -> str:
    token = await services.join_tokens.create(60)
    return (await services.join_tokens.redeem(token, name, f"nonce-{name}")).host_id


def hello(host_id: str) -> Hello:
    return Hello(
        host_id=host_id,
        hostname="gpu-01",
        agent_version="1.2.3",
        os="Linux 6.1",
        labels={"zone": "a"},
        gpus=[{"uuid": "GPU-1", "index": 0}],
    )


async def test_hello_telemetry_and_disconnect(services: Services) -> None:
    host_id = await joined_host(services)
    view = await services.hosts.record_hello(hello(host_id))
    assert (view.state, view.agent_version, view.labels) == ("connected", "1.2.3", {"zone": "a"})
    assert view.connected_at is not None and view.telemetry is None
    await services.hosts.record_telemetry(host_id, {"host": {"cpu_percent": 3.5}})
    seen = await services.hosts.get(host_id)
    assert seen.telemetry == {"host": {"cpu_percent": 3.5}}
    assert seen.last_heartbeat_at is not None and seen.last_heartbeat_at.tzinfo is not None
    assert await services.hosts.record_disconnect(host_id, "the stream ended")
    assert not await services.hosts.record_disconnect(host_id, "twice")  # already gone
    gone = await services.hosts.get(host_id)
    assert gone.state == "disconnected" and gone.disconnected_at is not None
    kinds = [e.kind for e in await services.events.after(0, host_id)]
    assert kinds == ["host.connected", "host.disconnected"]


async def test_list_filters_and_pages(services: Services) -> None:
    ids = [await joined_host(services, f"gpu-{i}") for i in range(3)]
    await services.hosts.record_hello(hello(ids[1]))
    page = await services.hosts.list(state="connected")
    assert [h.id for h in page.items] == [ids[1]] and page.total == 1
    page = await services.hosts.list(limit=2, offset=1)
    assert (len(page.items), page.total) == (2, 3)
    counts = await services.hosts.count_by_state()
    assert counts == {"connected": 1, "disconnected": 2, "released": 0}
    with pytest.raises(InvalidArgument):
        await services.hosts.list(limit=0)
    with pytest.raises(NotFound):
        await services.hosts.get("h-missing")


async def test_a_released_host_leaves_the_default_listing(services: Services) -> None:
    kept, released = [await joined_host(services, f"gpu-{i}") for i in range(2)]
    await services.hosts.record_hello(hello(released))
    assert await services.hosts.record_released(released)
    assert not await services.hosts.record_released(released)  # once
    assert [h.id for h in (await services.hosts.list()).items] == [kept]
    listed = (await services.hosts.list(state="released")).items
    assert [(h.id, h.state) for h in listed] == [(released, "released")]
    assert listed[0].disconnected_at is not None
    kinds = [e.kind for e in await services.events.after(0, released)]
    assert kinds == ["host.connected", "host.released"]
    # its agent comes back anyway: listed again, with a warning saying to stop it
    assert (await services.hosts.record_hello(hello(released))).state == "connected"
    events = await services.events.after(0, released)
    assert [(e.kind, e.severity) for e in events][-2:] == [
        ("host.reconnected_after_release", "warning"),
        ("host.connected", "info"),
    ]
