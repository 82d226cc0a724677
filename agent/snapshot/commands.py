"""The Restore, TakeSnapshot and Prefetch commands: long commands run on the snapshot engine.

The dispatcher (agent/commands.py) runs each as a task, remembers its result by command
id and answers a repeat with that result, so a control plane that resends after a lost
result never restores or snapshots twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from torpor.proto.v1 import agent_pb2

from .engine import SnapshotEngine
from .errors import SnapshotError
from .placement import SnapshotFenced

log = logging.getLogger(__name__)

DEFAULT_REASON = "manual"
# What the engine raises with a one-line message: the snapshot errors, the file system,
# and NoSnapshotRepository's refusal.
EXPECTED_ERRORS = (SnapshotError, OSError, RuntimeError)


class SnapshotCommands:
    """Long handlers for the dispatcher: `restore`, `take_snapshot` and `prefetch`."""

    def __init__(self, engine: SnapshotEngine) -> None:
        self._engine = engine

    async def take_snapshot(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        order = command.take_snapshot
        tags = [order.reason or DEFAULT_REASON]
        try:
            taken = await asyncio.to_thread(self._engine.take, tags, keep=order.keep_forever)
        except EXPECTED_ERRORS as error:
            log.warning("snapshot (%s) failed: %s", tags[0], error)
            failed = _failed(f"the snapshot failed: {error}")
            failed.fenced = isinstance(error, SnapshotFenced)
            return failed
        return agent_pb2.CommandResult(
            ok=True, snapshot_id=taken.snapshot_id, outputs=taken.outputs()
        )

    async def restore(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        reference = command.restore.snapshot_id
        if not reference:
            return _failed("Restore needs a snapshot_id (a full id or a unique prefix)")
        order = command.restore
        try:
            restored = await asyncio.to_thread(
                self._engine.restore, reference, order.repository, order.repository_key
            )
        except EXPECTED_ERRORS as error:
            log.warning("restore of %s failed: %s", reference, error)
            return _failed(f"restore of {reference[:12]} failed: {error}")
        return agent_pb2.CommandResult(
            ok=True, snapshot_id=restored.snapshot_id, outputs=restored.outputs()
        )

    async def prefetch(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        """A warm standby caches these snapshots' chunks (shares the engine's lock)."""
        order = command.prefetch
        if not order.snapshot_ids:
            return _failed("Prefetch needs snapshot_ids")
        references = list(order.snapshot_ids)
        try:
            done = await asyncio.to_thread(
                functools.partial(
                    self._engine.prefetch,
                    references,
                    order.repository,
                    order.repository_key,
                    instance_id=order.instance_id,
                    require_encrypted=order.require_encrypted,
                )
            )
        except EXPECTED_ERRORS as error:
            log.warning("prefetch of %s failed: %s", references, error)
            return _failed(f"prefetch failed: {error}")
        return agent_pb2.CommandResult(ok=True, outputs=done.outputs())


def _failed(message: str) -> agent_pb2.CommandResult:
    return agent_pb2.CommandResult(ok=False, error=" ".join(message.split()))
