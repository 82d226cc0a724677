"""The EventBus replays stored events, then streams live ones, and drops a slow watcher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from torpor.controlplane.errors import Unavailable
from torpor.controlplane.events.bus import EventBus
from torpor.controlplane.events.schemas import Event
from torpor.controlplane.services import Services

pytestmark = pytest.mark.integration


async def take(events: AsyncIterator[Event], count: int) -> list[Event]:
    return [await asyncio.wait_for(anext(events), 5) for _ in range(count)]


async def test_replay_then_live(services: Services) -> None:
    bus = services.bus
    first = await bus.publish(Event("a.one", "1", host_id="h-1"))
    await bus.publish(Event("a.two", "2", host_id="h-2"))
    watcher = bus.subscribe(after_seq=first.seq)
    assert [e.kind for e in await take(watcher, 1)] == ["a.two"]
    await bus.publish(Event("a.three", "3"))
    [live] = await take(watcher, 1)
    assert live.kind == "a.three" and live.seq > first.seq
    await watcher.aclose()
    assert bus.subscriber_count == 0


async def test_everything_from_zero_and_filtered_by_host(services: Services) -> None:
    bus = services.bus
    await bus.publish(Event("a.one", "1", host_id="h-1"))
    await bus.publish(Event("a.two", "2", host_id="h-2"))
    everything = bus.subscribe(after_seq=0)
    assert [e.kind for e in await take(everything, 2)] == ["a.one", "a.two"]
    only_h1 = bus.subscribe(after_seq=0, host_id="h-1")
    assert [e.kind for e in await take(only_h1, 1)] == ["a.one"]
    live_only = bus.subscribe()
    pending = asyncio.ensure_future(anext(live_only))
    await asyncio.sleep(0.05)
    await bus.publish(Event("a.three", "3", host_id="h-1"))
    assert (await asyncio.wait_for(pending, 5)).kind == "a.three"
    assert [e.kind for e in await take(only_h1, 1)] == ["a.three"]
    for watcher in (everything, only_h1, live_only):
        await watcher.aclose()


async def test_a_resent_event_is_stored_once(services: Services) -> None:
    once = await services.bus.publish(Event("agent.x", "x", event_id="same"))
    twice = await services.bus.publish(Event("agent.x", "x", event_id="same"))
    assert once.seq == twice.seq
    assert await services.events.count() == 1


async def test_a_slow_subscriber_is_dropped_not_waited_for(services: Services) -> None:
    bus = EventBus(services.events, queue_size=2)
    slow = bus.subscribe()
    pending = asyncio.ensure_future(anext(slow))
    await asyncio.sleep(0.05)  # the generator is now registered and waiting
    for index in range(5):
        await asyncio.wait_for(bus.publish(Event("load", str(index))), 5)
    assert bus.subscriber_count == 0
    received = [(await pending).message]
    with pytest.raises(Unavailable, match="fell behind"):
        while True:  # what was queued before the drop is still delivered, then the error
            received.append((await anext(slow)).message)
    assert received == [str(i) for i in range(len(received))] and len(received) < 5
