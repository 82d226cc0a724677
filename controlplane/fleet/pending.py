"""Commands in flight: futures keyed by command id, resolved by the host's results."""

from __future__ import annotations

import asyncio

from ..errors import DeadlineExceeded, TorporError
from .schemas import CommandResult


class PendingCommands:
    """Futures of sent commands, keyed by command id and owned by one host.

    The same id sent again while it is pending (a caller retrying a long Restore) shares
    the first one's future: the agent answers a repeated id once, so both callers get
    that one result.
    """

    def __init__(self) -> None:
        self._futures: dict[str, tuple[str, asyncio.Future[CommandResult]]] = {}
        self._waiters: dict[str, int] = {}

    def expect(self, host_id: str, command_id: str) -> asyncio.Future[CommandResult]:
        known = self._futures.get(command_id)
        if known is not None and known[0] == host_id and not known[1].done():
            self._waiters[command_id] += 1
            return known[1]
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._futures[command_id] = (host_id, future)
        self._waiters[command_id] = 1
        return future

    async def wait(
        self, command_id: str, future: asyncio.Future[CommandResult], timeout_s: float
    ) -> CommandResult:
        try:
            # shielded: one caller's timeout must not cancel another's wait on the same id.
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
            # arrives as the future completes (it returns or raises the result instead), so
            # a control plane stopping while a host dropped kept resending until timeout_s.
            async with asyncio.timeout(timeout_s):
                return await asyncio.shield(future)
        except TimeoutError:
            raise DeadlineExceeded(
                f"no answer to command {command_id} within {timeout_s:g} s"
            ) from None
        finally:
            self._forget(command_id, future)

    def _forget(self, command_id: str, future: asyncio.Future[CommandResult]) -> None:
        known = self._futures.get(command_id)
        if known is None or known[1] is not future:
            return
        self._waiters[command_id] -= 1
        if self._waiters[command_id] == 0:
            del self._futures[command_id], self._waiters[command_id]

    def resolve(self, host_id: str, result: CommandResult) -> None:
        """Completes the command's future; a result from another host is ignored."""
        owner, future = self._futures.get(result.command_id, ("", None))
        if future is not None and owner == host_id and not future.done():
            future.set_result(result)

    def fail_host(self, host_id: str, error: TorporError) -> None:
        for owner, future in list(self._futures.values()):
            if owner == host_id and not future.done():
                future.set_exception(error)

    def fail_all(self, error: TorporError) -> None:
        for _, future in list(self._futures.values()):
            if not future.done():
                future.set_exception(error)
