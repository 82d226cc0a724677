"""A TCP proxy that delays every chunk by a random 0..`max_delay_s`, keeping their order.

It sits between an agent and the control plane's gRPC port to show that heartbeats late by
up to the jitter never make a live host look lost (docs/benchmarks.md, "Detection").
Each direction is one queue: a chunk is forwarded at max(its arrival + a random delay, the
previous chunk's release), so bytes are never reordered (TCP and HTTP/2 need that) and a
burst is not delayed more than the jitter. `cut()` drops every connection at once, as a
network partition does, and refuses new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Coroutine
from typing import Any


class JitterProxy:
    def __init__(self, upstream: str, max_delay_s: float = 2.0, seed: int = 0) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        self._max_delay_s = max_delay_s
        self._random = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.chunks = 0

    async def start(self) -> str:
        """Listens on a free local port; returns "127.0.0.1:port" for the agent to dial."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def cut(self) -> None:
        """A partition: closes the listener and every connection (both sides see a reset)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            with contextlib.suppress(OSError, RuntimeError):
                writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pumps = [
            self._spawn(self._pump(reader, up_writer)),
            self._spawn(self._pump(up_reader, writer)),
        ]
        await asyncio.gather(*pumps, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One direction: read as it comes, deliver each chunk after its delay, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = self._spawn(self._deliver(queue, writer))
        loop = asyncio.get_running_loop()
        release = 0.0
        try:
            while data := await reader.read(65536):
                release = max(release, loop.time() + self._random.uniform(0, self._max_delay_s))
                queue.put_nowait((release, data))
            queue.put_nowait((release, b""))  # end of stream, after what came before it
            await sender
        finally:
            sender.cancel()

    async def _deliver(
        self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                release, data = await queue.get()
                await asyncio.sleep(max(0.0, release - loop.time()))
                if not data:
                    break
                writer.write(data)
                self.chunks += 1
                await writer.drain()
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()
            self._writers.discard(writer)
