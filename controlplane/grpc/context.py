"""Helpers every servicer uses: reading the bearer token, failing an RPC with a domain error."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import grpc

from ..errors import TorporError
from ..identity.tokens import bearer
from ..status_codes import grpc_status

Context = grpc.aio.ServicerContext[Any, Any]
S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")
T = TypeVar("T")
log = logging.getLogger(__name__)


class InFlight:
    """The tasks running long-lived handlers, so shutdown can wait for them to unwind
    (a handler cancelled mid-query must finish closing its session before the engine goes)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    @contextmanager
    def track(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._tasks.discard(task)

    def spawn(self, work: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        """`work` as a task drain() waits for (a handler's helper task, e.g. its reader)."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def shielded(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` run to its end even if the handler awaiting it is cancelled, and tracked
        till then: drain() waits for it, so a shutdown never disposes of the engine under
        a write still in flight (on SQLite that left the loop's teardown hanging)."""
        return await asyncio.shield(self.spawn(work))

    async def drain(self, timeout_s: float) -> None:
        """Waits up to `timeout_s` for every tracked task, then cancels the rest and waits
        once more as long: whatever returns, nothing tracked still runs against services
        that are about to close (a task that ignores its cancel is named in the log)."""
        pending = {task for task in self._tasks if not task.done()}
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout_s)
        if not late:
            return
        for task in late:
            task.cancel()
        _, stuck = await asyncio.wait(late, timeout=timeout_s)
        for task in stuck:
            log.warning("task %s did not end %.1f s after its cancel", task.get_name(), timeout_s)


def bearer_token(context: Context) -> str | None:
    """The token in the call's `authorization: Bearer …` metadata, if any."""
    for key, value in context.invocation_metadata() or ():
        if key.lower() == "authorization" and isinstance(value, str):
            return bearer(value)
    return None


async def abort(context: Context, err: TorporError) -> NoReturn:
    """Ends the RPC with the status `status_codes` maps the error to."""
    await context.abort(grpc_status(err), err.message)
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover


def unary(
    method: Callable[[S, Req, Context], Awaitable[Resp]],
) -> Callable[[S, Req, Context], Awaitable[Resp]]:
    """Turns a domain error raised by a unary handler into the mapped gRPC status."""

    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: Context) -> Resp:
        try:
            return await method(self, request, context)
        except TorporError as err:
            await abort(context, err)

    return wrapper


def server_stream(
    method: Callable[[S, Req, Context], AsyncIterator[Resp]],
) -> Callable[[S, Req, Context], AsyncIterator[Resp]]:
    """`unary` for handlers that stream their responses."""

    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: Context) -> AsyncIterator[Resp]:
        try:
            async for item in method(self, request, context):
                yield item
        except TorporError as err:
            await abort(context, err)

    return wrapper
