"""The EventBus: every event is stored first, then handed to live subscribers in order.

Subscribers get bounded queues. A subscriber that falls behind is dropped (its iterator
raises Unavailable, so a watcher can resume with `after_seq`) rather than slowing the bus:
one stuck `torporctl events` must not stall the agents' streams.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..errors import Unavailable
from .schemas import Event
from .store import EventStore

log = logging.getLogger(__name__)
SUBSCRIBER_QUEUE_SIZE = 1000


@dataclass(eq=False)
class _Subscriber:
    host_id: str | None
    queue: asyncio.Queue[Event]
    instance_id: str | None = None
    dropped: bool = False
    last_seq: int = 0
    waiter: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, event: Event) -> bool:
        if self.instance_id is not None and event.instance_id != self.instance_id:
            return False
        return self.host_id is None or event.host_id == self.host_id


class EventBus:
    def __init__(self, store: EventStore, queue_size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self._store = store
        self._queue_size = queue_size
        self._subscribers: set[_Subscriber] = set()
        # Storing and fanning out under one lock keeps live delivery in seq order.
        self._lock = asyncio.Lock()
        self.published_by_kind: Counter[str] = Counter()
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def publish(self, event: Event) -> Event:
        """Stores the event and fans it out; a resent event id is stored and sent only once."""
        async with self._lock:
            stored, is_new = await self._store.append(event)
            if is_new:
                self.published_by_kind[stored.kind] += 1
                self._fan_out(stored)
        return stored

    def _fan_out(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            if not subscriber.wants(event):
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning(
                    "dropping an event subscriber that fell %d events behind", self._queue_size
                )
                subscriber.dropped = True
                self._subscribers.discard(subscriber)
            subscriber.waiter.set()

    def close(self) -> None:
        """Ends every subscription (they raise Unavailable): the process is stopping."""
        self._closed = True
        for subscriber in self._subscribers:
            subscriber.waiter.set()

    async def subscribe(
        self,
        after_seq: int | None = None,
        host_id: str | None = None,
        instance_id: str | None = None,
    ) -> AsyncIterator[Event]:
        """Stored events after `after_seq` (None: none, only live ones), then live events.

        Raises Unavailable when the subscriber fell too far behind and was dropped.
        """
        subscriber = _Subscriber(host_id, asyncio.Queue(self._queue_size), instance_id)
        self._subscribers.add(subscriber)  # before the replay, so nothing falls in between
        try:
            if after_seq is not None:
                async for event in self._replay(after_seq, host_id, instance_id):
                    subscriber.last_seq = event.seq
                    yield event
            while True:
                event = await self._next_live(subscriber)
                if event.seq > subscriber.last_seq:
                    subscriber.last_seq = event.seq
                    yield event
        finally:
            self._subscribers.discard(subscriber)

    async def _replay(
        self, after_seq: int, host_id: str | None, instance_id: str | None
    ) -> AsyncIterator[Event]:
        while True:
            page = await self._store.after(after_seq, host_id, instance_id=instance_id)
            for event in page:
                yield event
            if not page:
                return
            after_seq = page[-1].seq

    async def _next_live(self, subscriber: _Subscriber) -> Event:
        while subscriber.queue.empty():
            if self._closed:
                raise Unavailable("the control plane is shutting down; watch again later")
            if subscriber.dropped:
                raise Unavailable(
                    f"event watcher fell behind and was dropped; "
                    f"watch again after seq {subscriber.last_seq}"
                )
            subscriber.waiter.clear()
            await subscriber.waiter.wait()
        return subscriber.queue.get_nowait()
