"""Messages for the control plane made outside a stream (idle reports, alerts, results of
long commands): they wait here for whichever stream is up, so a reconnect loses none."""

from __future__ import annotations

import asyncio
import logging

from torpor.proto.v1 import agent_pb2

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 256


class Outbox:
    """A bounded queue; when full, the oldest message is dropped (a log line says so)."""

    def __init__(self, limit: int = OUTBOX_LIMIT) -> None:
        self._queue: asyncio.Queue[agent_pb2.AgentMessage] = asyncio.Queue(maxsize=limit)

    def put(self, message: agent_pb2.AgentMessage) -> None:
        if self._queue.full():
            dropped = self._queue.get_nowait()
            log.warning("outbox full: dropped a %s message", dropped.WhichOneof("payload"))
        self._queue.put_nowait(message)

    async def get(self) -> agent_pb2.AgentMessage:
        return await self._queue.get()
