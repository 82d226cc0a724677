"""One agent's live stream as the hub sees it: an outbox and a way to end it."""

from __future__ import annotations

import asyncio

from ..errors import TorporError
from .schemas import Command, HeartbeatPolicy

Outbound = Command | HeartbeatPolicy


class AgentStream:
    """The control plane's half of one `Connect` stream.

    The servicer drains `next_outbound()` onto the wire. The hub ends a stream with
    `close(error)` (replaced, lost, shutting down); the servicer then fails the RPC with
    that error. A stream the agent ended is closed without an error.
    """

    def __init__(self, host_id: str, deadline: float) -> None:
        self.host_id = host_id
        self.deadline = deadline
        self._outbox: asyncio.Queue[Outbound] = asyncio.Queue()
        self._closed = asyncio.Event()
        self.close_error: TorporError | None = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def send(self, item: Outbound) -> None:
        if not self.closed:
            self._outbox.put_nowait(item)

    def close(self, error: TorporError | None = None) -> None:
        if not self.closed:
            self.close_error = error
            self._closed.set()

    async def next_outbound(self) -> Outbound | None:
        """The next message to send, or None once the stream is closed."""
        if self._outbox.empty() and not self.closed:
            getter = asyncio.ensure_future(self._outbox.get())
            closer = asyncio.ensure_future(self._closed.wait())
            try:
                await asyncio.wait({getter, closer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closer.cancel()
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                return getter.result()
        if self.closed:
            return None
        return self._outbox.get_nowait()
