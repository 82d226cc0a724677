"""Placing an instance on a host (create, wake, failover): a warm standby or a new host,
the Assign that gives the host its epoch, Restore, the idle policy, and the rollback of
a placement that fails (the host released, the placement ended)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import InstanceRow, OperationRow
from ..errors import TorporError
from ..failover import placements
from ..fleet.schemas import Assignment
from ..providers.base import HostSpec, Placement, Provider
from ..repository_keys.keyring import RepositoryKeyring
from ..repository_keys.wrapping import RepositoryKeyError
from ..warmpool.claims import claimed_event
from . import journal
from .agents import Fenced
from .orchestration import DONE, OperationSteps
from .providers import Providers
from .states import Action

log = logging.getLogger(__name__)


def assignment_of(
    instance: InstanceRow, fence_after_s: float, keys: RepositoryKeyring
) -> Assignment:
    """What the instance's current host serves: the Assign command and every Welcome, with
    the secret of its repository. Raises RepositoryKeyError when the stored key does not
    open."""
    repository = str((instance.placement or {}).get("repository", ""))
    key = keys.open(instance.id, instance.wrapped_repository_key)
    return Assignment(instance.id, instance.epoch, repository, fence_after_s, key)


def fence_after_for(instance: InstanceRow, providers: Providers, fence_after_s: float) -> float:
    """The self-fence bound sent to the instance's host: 0 (never) when its provider
    confirms a release (`Provider.confirms_release`) and the host has a lease to release —
    a failover then replaces it only once the release returned, so no outage of the
    control plane needs to stop its work. Else `fence_after_s`: nothing can confirm the
    host is gone, so it must stop on its own before a failover may start a replacement."""
    try:
        provider = providers.get(instance.provider)
    except TorporError:  # not registered (yet): assume the worst
        return fence_after_s
    if instance.lease_id and confirms_release(provider):
        return 0.0
    return fence_after_s


def confirms_release(provider: Provider) -> bool:
    """A provider that does not say is taken as one that cannot confirm (the safe side)."""
    return bool(getattr(provider, "confirms_release", False))


class PlacementSteps(OperationSteps):
    async def _acquire(self, operation: OperationRow, instance: InstanceRow) -> str:
        spec = HostSpec(
            instance.gpu_type, instance.gpu_count, instance.region, instance_id=instance.id
        )
        try:
            placement = await self._claim_standby(operation, spec)
            if placement is None:
                provider = self._providers.get(instance.provider)
                placement = await provider.acquire(spec, request_id=operation.request_id or "")
        except TorporError as err:
            await self._placement_failed(operation, instance, err.message)
            return DONE

        rule = placements.chosen_by(placement, instance.region)

        async def place(session: AsyncSession, row: InstanceRow) -> None:
            await placements.begin(session, row, placement, rule, operation.id)

        await self._advance(operation.id, "assign", place, lease_id=placement.lease_id)
        await self.announce_claim(instance, placement, operation.kind)
        return "assign"

    async def announce_claim(
        self, instance: InstanceRow, placement: Placement, purpose: str
    ) -> None:
        """`warmpool.claimed` when the placement took a warm standby."""
        event = claimed_event(instance.id, placement, purpose)
        if event is not None:
            await self._bus.publish(event)

    async def _assign(self, operation: OperationRow, instance: InstanceRow) -> str:
        """Tells the new host which instance and epoch it serves, before anything else. An
        agent that is not connected or too old to know Assign gets it in its Welcome; one
        holding a newer epoch (fenced) fails the placement."""
        following = "configure" if operation.kind == "create" else "restore"
        assert instance.host_id and operation.command_id
        try:
            bound_s = fence_after_for(instance, self._providers, self.timeouts.fence_after_s)
            assignment = assignment_of(instance, bound_s, self.repository_keys)
        except RepositoryKeyError as err:
            await self._placement_failed(operation, instance, err.message)
            return DONE
        try:
            await self._agents.assign(
                instance.host_id, operation.command_id, assignment, self.timeouts.command_s
            )
        except Fenced as err:
            await self._placement_failed(operation, instance, f"the host is fenced: {err.message}")
            return DONE
        except TorporError as err:
            message = (
                f"host {instance.host_id} did not confirm epoch {instance.epoch}: {err.message}"
            )
            await self._emit(instance, "instance.assign_unconfirmed", message, "warning")
        await self._advance(operation.id, following)
        return following

    async def _claim_standby(self, operation: OperationRow, spec: HostSpec) -> Placement | None:
        """A wake takes a warm standby first. "None to be had" is journalled before the
        provider is asked, so a wake resumed after a crash never claims one as well."""
        if operation.kind != "wake" or (operation.details or {}).get("standby") == "none":
            return None
        request_id = operation.request_id or ""
        placement = await self.standbys.claim(spec, request_id=request_id)
        if placement is None:
            await self._advance(operation.id, "acquire", standby="none")
        return placement

    async def _placement_failed(
        self, operation: OperationRow, instance: InstanceRow, why: str
    ) -> None:
        await self.release_quietly(instance)  # a host placed (or left) by this operation
        await self.roll_back_placement(operation, f"no host could be placed: {why}")

    async def _finish_create(self, operation: OperationRow, instance: InstanceRow) -> str:
        moved = await self._conclude(operation.id, Action.PROVISIONED, journal.OK, "placed")
        await self._emit(moved, "instance.running", f"instance {moved.id} is running")
        return DONE

    async def _restore(self, operation: OperationRow, instance: InstanceRow) -> str:
        assert instance.host_id and instance.latest_snapshot_id and operation.command_id
        try:  # a stored key that does not open (RepositoryKeyError) fails it like a refusal
            await self._agents.restore(
                instance.host_id,
                operation.command_id,
                instance.latest_snapshot_id,
                self.timeouts.restore_s,
                repository=str((instance.placement or {}).get("repository", "")),
                repository_key=self.repository_keys.open(
                    instance.id, instance.wrapped_repository_key
                ),
                epoch=instance.epoch,
            )
        except TorporError as err:
            await self._restore_failed(operation, instance, err.message)
            return DONE
        await self._advance(operation.id, "configure")
        return "configure"

    async def _configure(self, operation: OperationRow, instance: InstanceRow) -> str:
        """Sends the instance's idle-policy override; a refusal is reported, not fatal (the
        agent's own policy applies)."""
        if instance.idle_policy and instance.host_id and operation.command_id:
            try:
                await self._agents.set_idle_policy(
                    instance.host_id,
                    operation.command_id,
                    dict(instance.idle_policy),
                    self.timeouts.command_s,
                    epoch=instance.epoch,
                )
            except TorporError as err:
                message = f"the agent did not take the instance's idle policy: {err.message}"
                await self._emit(instance, "instance.idle_policy_refused", message, "warning")
        await self._advance(operation.id, "finish")
        return "finish"

    async def _restore_failed(
        self, operation: OperationRow, instance: InstanceRow, why: str
    ) -> None:
        """The new host goes back; the instance stays hibernated, its snapshot untouched."""
        await self._release(instance)
        reason = f"restoring snapshot {instance.latest_snapshot_id} failed: {why}"
        await self.roll_back_placement(operation, reason)

    async def _finish_wake(self, operation: OperationRow, instance: InstanceRow) -> str:
        moved = await self._conclude(operation.id, Action.WOKE, journal.OK, "woken")
        await self._emit(
            moved,
            "instance.running",
            f"instance {moved.id} woke from snapshot {moved.latest_snapshot_id}",
            snapshot_id=moved.latest_snapshot_id or "",
        )
        return DONE

    placement_failed = _placement_failed  # a public name for failover/steps.py
