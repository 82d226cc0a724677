"""Placer: puts an instance on a host — a warm standby or a new one from its provider —
tells that host which instance and epoch it serves (Assign), and sends the instance's
idle policy. Used by create, wake and failover alike (failover picks its own target).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import InstanceRow, OperationRow
from ..errors import TorporError
from ..providers.base import HostSpec, Lease
from ..repository_keys.keyring import RepositoryKeyring
from ..repository_keys.wrapping import RepositoryKeyError
from . import placements
from .agents import AgentCommands, Fenced
from .assignment import assignment_of, fence_after_for
from .providers import Providers
from .recorder import OperationRecorder
from .rollback import Rollback
from .standbys import StandbyClaims, claimed_event
from .steps import DONE
from .timeouts import Timeouts


class Placer:
    def __init__(
        self,
        recorder: OperationRecorder,
        rollback: Rollback,
        providers: Providers,
        agents: AgentCommands,
        *,
        standbys: StandbyClaims,
        timeouts: Timeouts,
        repository_keys: RepositoryKeyring,
    ) -> None:
        self._recorder = recorder
        self._rollback = rollback
        self._providers = providers
        self._agents = agents
        self._standbys = standbys
        self._timeouts = timeouts
        self._keys = repository_keys

    async def acquire(self, operation: OperationRow, instance: InstanceRow) -> str:
        """A warm standby (wake only) or a new host; placement N+1 begins on it."""
        spec = HostSpec(
            instance.gpu_type, instance.gpu_count, instance.region, instance_id=instance.id
        )
        try:
            lease = await self._claim_standby(operation, spec)
            if lease is None:
                provider = self._providers.get(instance.provider)
                lease = await provider.acquire(spec, request_id=operation.request_id or "")
        except TorporError as err:
            await self._rollback.placement_failed(operation, instance, err.message)
            return DONE

        rule = placements.chosen_by(lease, instance.region)

        async def place(session: AsyncSession, row: InstanceRow) -> None:
            await placements.begin(session, row, lease, rule, operation.id)

        await self._recorder.advance(operation.id, "assign", place, lease_id=lease.lease_id)
        await self.announce_claim(instance, lease, operation.kind)
        return "assign"

    async def announce_claim(self, instance: InstanceRow, lease: Lease, purpose: str) -> None:
        """`warmpool.claimed` when the placement took a warm standby."""
        event = claimed_event(instance.id, lease, purpose)
        if event is not None:
            await self._recorder.publish(event)

    async def _claim_standby(self, operation: OperationRow, spec: HostSpec) -> Lease | None:
        """A wake takes a warm standby first. "None to be had" is journalled before the
        provider is asked, so a wake resumed after a crash never claims one as well."""
        if operation.kind != "wake" or (operation.details or {}).get("standby") == "none":
            return None
        request_id = operation.request_id or ""
        lease = await self._standbys.claim(spec, request_id=request_id)
        if lease is None:
            await self._recorder.advance(operation.id, "acquire", standby="none")
        return lease

    async def assign(self, operation: OperationRow, instance: InstanceRow) -> str:
        """Tells the new host which instance and epoch it serves, before anything else. An
        agent that is not connected or too old to know Assign gets it in its Welcome; one
        holding a newer epoch (fenced) fails the placement."""
        following = "configure" if operation.kind == "create" else "restore"
        assert instance.host_id and operation.command_id
        try:
            bound_s = fence_after_for(instance, self._providers, self._timeouts.fence_after_s)
            assignment = assignment_of(instance, bound_s, self._keys)
        except RepositoryKeyError as err:
            await self._rollback.placement_failed(operation, instance, err.message)
            return DONE
        try:
            await self._agents.assign(
                instance.host_id, operation.command_id, assignment, self._timeouts.command_s
            )
        except Fenced as err:
            why = f"the host is fenced: {err.message}"
            await self._rollback.placement_failed(operation, instance, why)
            return DONE
        except TorporError as err:
            message = (
                f"host {instance.host_id} did not confirm epoch {instance.epoch}: {err.message}"
            )
            await self._recorder.emit(instance, "instance.assign_unconfirmed", message, "warning")
        await self._recorder.advance(operation.id, following)
        return following

    async def configure(self, operation: OperationRow, instance: InstanceRow) -> str:
        """Sends the instance's idle-policy override; a refusal is reported, not fatal (the
        agent's own policy applies)."""
        if instance.idle_policy and instance.host_id and operation.command_id:
            try:
                await self._agents.set_idle_policy(
                    instance.host_id,
                    operation.command_id,
                    dict(instance.idle_policy),
                    self._timeouts.command_s,
                    epoch=instance.epoch,
                )
            except TorporError as err:
                message = f"the agent did not take the instance's idle policy: {err.message}"
                await self._recorder.emit(
                    instance, "instance.idle_policy_refused", message, "warning"
                )
        await self._recorder.advance(operation.id, "finish")
        return "finish"
