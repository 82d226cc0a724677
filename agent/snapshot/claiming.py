"""The moment a host is handed to an instance, as the cache sees it: an `Assign` (or a
Welcome stating an assignment) for instance I makes the cache I's before the assignment
is taken, so nothing cached for another instance — another team's, on a shared standby —
is still on the host when I's workload starts (tenancy.py says how, and why twice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from torpor.proto.v1 import agent_pb2

from .tenancy import CacheTenancy

log = logging.getLogger(__name__)

Handler = Callable[[agent_pb2.Command], Awaitable[agent_pb2.CommandResult]]


class CacheClaims:
    """Wraps the Assign handler and the Welcome hook with the cache's claim."""

    def __init__(self, tenancy: CacheTenancy, assign: Handler) -> None:
        self._tenancy = tenancy
        self._assign = assign
        self._sweeps: set[asyncio.Task[None]] = set()

    async def assign(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        """Claims the cache for the assignment's instance, then takes the assignment; a
        cache that cannot be cleared refuses it (the control plane sends it again)."""
        instance_id = command.assign.assignment.instance_id
        try:
            await asyncio.to_thread(self._tenancy.claim, instance_id or None)
        except OSError as error:
            log.error("cannot clear the cache for instance %s: %s", instance_id, error)
            return agent_pb2.CommandResult(
                ok=False,
                error=f"the assignment of {instance_id} was not taken: the cache of other "
                f"instances under {self._tenancy.cache_dir} could not be removed ({error}); "
                "fix the state directory's permissions or space, the Assign is retried",
            )
        return await self._assign(command)

    def on_welcome(self, welcome: agent_pb2.Welcome) -> None:
        """A Welcome's assignment is taken right after this: the renames happen now (they
        are quick), the deletion in the background; the restore that writes the workspace
        deletes again, synchronously, first (snapshotter)."""
        if not welcome.HasField("assignment") or not welcome.assignment.instance_id:
            return
        try:
            self._tenancy.claim(welcome.assignment.instance_id, sweep=False)
        except OSError as error:
            log.error("cannot clear the cache for %s: %s", welcome.assignment.instance_id, error)
            return
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._tenancy.sweep))
        self._sweeps.add(task)
        task.add_done_callback(self._sweeps.discard)
