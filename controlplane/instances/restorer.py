"""Restorer: the Restore step of wake and failover — the instance's latest snapshot onto
its new host, with the key of its repository. A restore that fails gives the new host
back and leaves the instance hibernated, its snapshot untouched."""

from __future__ import annotations

from ..db.models import InstanceRow, OperationRow
from ..errors import TorporError
from ..repository_keys.keyring import RepositoryKeyring
from .agents import AgentCommands
from .recorder import OperationRecorder
from .releases import Releases
from .repositories import repository_of
from .rollback import Rollback
from .steps import DONE
from .timeouts import Timeouts


class Restorer:
    def __init__(
        self,
        recorder: OperationRecorder,
        releases: Releases,
        rollback: Rollback,
        agents: AgentCommands,
        *,
        timeouts: Timeouts,
        repository_keys: RepositoryKeyring,
    ) -> None:
        self._recorder = recorder
        self._releases = releases
        self._rollback = rollback
        self._agents = agents
        self._timeouts = timeouts
        self._keys = repository_keys

    async def restore(self, operation: OperationRow, instance: InstanceRow) -> str:
        assert instance.host_id and instance.latest_snapshot_id and operation.command_id
        try:  # a stored key that does not open (RepositoryKeyError) fails it like a refusal
            await self._agents.restore(
                instance.host_id,
                operation.command_id,
                instance.latest_snapshot_id,
                self._timeouts.restore_s,
                repository=repository_of(instance),
                repository_key=self._keys.open(instance.id, instance.wrapped_repository_key),
                epoch=instance.epoch,
            )
        except TorporError as err:
            await self._failed(operation, instance, err.message)
            return DONE
        await self._recorder.advance(operation.id, "configure")
        return "configure"

    async def _failed(self, operation: OperationRow, instance: InstanceRow, why: str) -> None:
        """The new host goes back; the instance stays hibernated, its snapshot untouched."""
        await self._releases.release(instance)
        reason = f"restoring snapshot {instance.latest_snapshot_id} failed: {why}"
        await self._rollback.unplaced(operation, reason)
