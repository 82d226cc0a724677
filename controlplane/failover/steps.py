"""The failover operation's own steps; assign, restore and configure are wake's.

    [snapshot] -> target -> release_old -> assign -> restore -> configure -> finish

`snapshot` (a preemption notice, or a failover asked for while the host still answers)
takes a last snapshot on the old host inside the time left; `target` picks the new host —
a warm standby of the same GPU type in the same region, else in another region if the
instance's settings allow, else a new host from the provider, never the host being left
nor one being drained —
and records placement N+1 in the same transaction that moves the instance there;
`release_old` fences the old host if it still answers and gives its lease back (best
effort: a host that cannot be released is reported, and it fences itself). Every step is
journalled like wake's, so a restart resumes it; every step is an event.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from torpor.common.timestamps import utc_now

from ..db.models import HostRow, InstanceRow, OperationRow, SnapshotRecordRow
from ..errors import TorporError, Unavailable
from ..fleet.draining import is_draining
from ..instances import journal, placements
from ..instances.agents import AgentCommands
from ..instances.assignment import confirms_release
from ..instances.placer import Placer
from ..instances.providers import Providers
from ..instances.recorder import OperationRecorder
from ..instances.releases import Releases
from ..instances.restorer import Restorer
from ..instances.rollback import Rollback
from ..instances.snapshots import record
from ..instances.standbys import StandbyClaims
from ..instances.states import Action
from ..instances.steps import DONE, Step
from ..instances.timeouts import Timeouts
from ..providers.base import HostSpec, Lease
from .fencing import FAILED_OVER
from .policy import instance_settings

log = logging.getLogger(__name__)
FENCE_TIMEOUT_S = 5.0
RELEASE_RETRY_S = 1.0
RELEASE_RETRY_MAX_S = 30.0
"""Backoff of the old host's release when nothing but that release makes failover safe."""


class FailoverSteps:
    def __init__(
        self,
        recorder: OperationRecorder,
        rollback: Rollback,
        releases: Releases,
        *,
        placer: Placer,
        restorer: Restorer,
        providers: Providers,
        agents: AgentCommands,
        claims: StandbyClaims,
        timeouts: Timeouts,
    ) -> None:
        self._recorder = recorder
        self._rollback = rollback
        self._releases = releases
        self._placer = placer
        self._restorer = restorer
        self._providers = providers
        self._agents = agents
        self._claims = claims
        self._timeouts = timeouts

    def steps(self) -> dict[str, Step]:
        """The failover operation, in order: assign, restore and configure are wake's."""
        return {
            "snapshot": self._last_snapshot,
            "target": self._target,
            "release_old": self._release_old,
            "assign": self._placer.assign,
            "restore": self._restorer.restore,
            "configure": self._placer.configure,
            "finish": self._finish,
        }

    async def _last_snapshot(self, operation: OperationRow, instance: InstanceRow) -> str:
        """A last incremental snapshot on the old host, inside the time left; when it fails
        the failover goes on from the previous one (or stops: nothing to restore)."""
        assert instance.host_id and operation.command_id
        timeout_s = float((operation.details or {}).get("snapshot_timeout_s", 60))
        try:
            taken = await self._agents.take_snapshot(
                instance.host_id,
                operation.command_id,
                "failover",
                False,
                max(timeout_s, 1.0),
                epoch=instance.epoch,
            )
        except TorporError as err:
            return await self._without_last_snapshot(operation, instance, err.message)

        def keep(session: AsyncSession, row: InstanceRow) -> None:
            record(session, row, taken, "failover", keep=False)

        await self._recorder.advance(
            operation.id, "target", keep, last_snapshot_id=taken.snapshot_id
        )
        return "target"

    async def _without_last_snapshot(
        self, operation: OperationRow, instance: InstanceRow, why: str
    ) -> str:
        message = f"the last snapshot before failover failed: {why}"
        await self._recorder.emit(instance, "instance.failover_snapshot_failed", message)
        if instance.latest_snapshot_id is None:
            reason = f"nothing to restore: no snapshot of {instance.id} exists ({why})"
            moved = await self._recorder.conclude(
                operation.id, _aborted(operation), journal.FAILED, reason
            )
            await self._recorder.emit(moved, "instance.failover_failed", reason, "error")
            return DONE
        await self._recorder.advance(operation.id, "target")
        return "target"

    async def _target(self, operation: OperationRow, instance: InstanceRow) -> str:
        old_host = str((operation.details or {}).get("old_host_id", ""))
        try:
            lease, rule = await self._choose(operation, instance, old_host)
        except TorporError as err:
            if self._old_host_serves(operation, old_host):
                return await self._stay(operation, instance, old_host, err.message)
            await self._rollback.placement_failed(operation, instance, err.message)
            return DONE

        async def move(session: AsyncSession, row: InstanceRow) -> None:
            await placements.end(session, row, FAILED_OVER)
            await placements.begin(session, row, lease, rule, operation.id)

        await self._recorder.advance(
            operation.id, "release_old", move, new_host_id=lease.host_id, chosen_by=rule
        )
        await self._placer.announce_claim(instance, lease, "failover")
        message = f"failing {instance.id} over to host {lease.host_id} ({rule})"
        await self._recorder.emit(
            instance,
            "failover.target_chosen",
            message,
            chosen_by=rule,
            target_host_id=lease.host_id,
            epoch=str(instance.epoch + 1),
        )
        return "release_old"

    def _old_host_serves(self, operation: OperationRow, old_host: str) -> bool:
        """A failover asked for (by a user, a drain or a preemption notice) whose old host
        still answers: it keeps the instance when no target can be had."""
        trigger = str((operation.details or {}).get("trigger", ""))
        return trigger != "host_lost" and bool(old_host) and self._agents.connected(old_host)

    async def _stay(
        self, operation: OperationRow, instance: InstanceRow, old_host: str, why: str
    ) -> str:
        """No target: the instance goes back to running where it is, its lease kept (a
        release here would throw away a working host and the work since the snapshot)."""
        reason = f"no host to fail over to ({why}); instance {instance.id} stays on {old_host}"
        moved = await self._recorder.conclude(
            operation.id, _aborted(operation), journal.FAILED, reason
        )
        await self._recorder.emit(moved, "instance.failover_failed", reason, "error")
        return DONE

    async def _choose(
        self, operation: OperationRow, instance: InstanceRow, old_host: str
    ) -> tuple[Lease, str]:
        """Same-region standby, then (if allowed) any-region standby, then a new host."""
        spec = HostSpec(
            instance.gpu_type, instance.gpu_count, instance.region, instance_id=instance.id
        )
        request_id = operation.request_id or operation.id
        async with self._recorder.sessions() as session:
            allow_other = (await instance_settings(session, instance.id)).effective
        # Both claims use the operation's request id: a step resumed after a crash between
        # a claim and `advance` gets back the standby it claimed (in whichever region),
        # never a second one.
        found = await self._claims.claim(spec, request_id=request_id, avoid_host_id=old_host)
        if found is None and allow_other.allow_other_region:
            found = await self._claims.claim(
                spec, request_id=request_id, avoid_host_id=old_host, any_region=True
            )
        if found is not None:
            return _not_the_old(found, old_host), placements.chosen_by(found, instance.region)
        provider = self._providers.get(instance.provider)
        acquired = await provider.acquire(spec, request_id=request_id)
        async with self._recorder.sessions() as session:
            draining = await is_draining(session, acquired.host_id)
        if draining:  # standbys on it are never claimed; a new host on it is given back
            await self._providers.release(instance.provider, acquired.lease_id, acquired.host_id)
            raise Unavailable(f"the only host offered ({acquired.host_id}) is being drained")
        if acquired.host_id == old_host:  # given back first, as a draining one is
            await self._providers.release(instance.provider, acquired.lease_id, acquired.host_id)
        return _not_the_old(acquired, old_host), placements.ACQUIRED

    async def _release_old(self, operation: OperationRow, instance: InstanceRow) -> str:
        """Makes sure the old host is gone before the new one is assigned — the rule that
        keeps "never two copies": an acknowledged Fence or a confirmed release, else (a
        host that self-fences) its fence deadline passed, else (one that never does: its
        provider confirms releases) the release retried until it is confirmed."""
        details = operation.details or {}
        old_host, old_lease = str(details.get("old_host_id", "")), details.get("old_lease_id")
        provider_name = str(details.get("old_provider") or instance.provider)
        gone = released = False  # acknowledged a Fence / its release was confirmed
        if old_host:
            reason = f"instance {instance.id} failed over to epoch {instance.epoch}"
            try:
                gone = await self._agents.fence(old_host, reason, instance.epoch, FENCE_TIMEOUT_S)
            except TorporError as err:  # it fences itself after fence_after_ms anyway
                log.info("fencing old host %s: %s", old_host, err.message)
        if old_lease:  # a host that did not take the Fence may be frozen: killed, not stopped
            released = await self._releases.release_or_report(
                instance, str(old_lease), old_host or None, provider=provider_name, lost=not gone
            )
            gone = gone or released
        if old_host and not gone:
            if old_lease and self._never_self_fences(provider_name):
                await self._until_released(operation, instance, provider_name, str(old_lease))
                released = True
            else:
                await self._until_fenced(operation, instance, old_host)
        await self._recorder.advance(
            operation.id, "assign", old_lease_released="yes" if released else ""
        )
        return "assign"

    def _never_self_fences(self, provider_name: str) -> bool:
        """Whether the old host was told `fence_after_ms` 0 (assignment.fence_after_for)."""
        try:
            return confirms_release(self._providers.get(provider_name))
        except TorporError:
            return False

    async def _until_released(
        self, operation: OperationRow, instance: InstanceRow, provider_name: str, lease: str
    ) -> None:
        """The old host never fences itself (its provider confirms releases, so it keeps
        working through any outage): only a confirmed release makes a replacement safe, so
        the release is retried, backing off, until the provider confirms it. The operation
        waits at this step (a restart resumes it here); event `failover.waiting_for_release`."""
        old_host = str((operation.details or {}).get("old_host_id", ""))
        message = (
            f"not assigning the new host until the old host {old_host} (lease {lease}) is "
            f"released: it never fences itself; retrying the release every up to "
            f"{RELEASE_RETRY_MAX_S:.0f} s (fix the provider: {provider_name})"
        )
        await self._recorder.emit(instance, "failover.waiting_for_release", message, "error")
        delay_s = RELEASE_RETRY_S
        while True:
            await asyncio.sleep(delay_s)
            try:
                await self._providers.release(provider_name, lease, old_host or None, lost=True)
                return
            except Exception as err:
                log.warning("releasing old host %s (lease %s) again: %s", old_host, lease, err)
                delay_s = min(delay_s * 2, RELEASE_RETRY_MAX_S)

    async def _until_fenced(
        self, operation: OperationRow, instance: InstanceRow, old_host: str
    ) -> None:
        """Waits until the old host, maybe only partitioned, must have fenced itself: its
        last heartbeat + `fence_after_s` + the agent's own lag (stream loss, term grace).
        The instant is journalled, so a resumed step waits for the same one."""
        details = operation.details or {}
        until = _when(str(details.get("fenced_by", "")))
        if until is None:
            async with self._recorder.sessions() as session:
                host = await session.get(HostRow, old_host)
            heard = host.last_heartbeat_at if host is not None else None
            heard = heard or _when(str(details.get("lost_at", ""))) or utc_now()
            timeouts = self._timeouts
            until = heard + timedelta(seconds=timeouts.fence_after_s + timeouts.fence_margin_s)
            await self._recorder.advance(operation.id, "release_old", fenced_by=until.isoformat())
        left_s = (until - utc_now()).total_seconds()
        if left_s > 0:
            message = (
                f"waiting {left_s:.0f} s, until {until.isoformat()}, before assigning the new "
                f"host: the old host {old_host} could not be released or fenced, and fences "
                "itself by then"
            )
            await self._recorder.emit(
                instance, "failover.waiting_for_fence", message, fenced_by=until.isoformat()
            )
            await asyncio.sleep(left_s)

    async def _finish(self, operation: OperationRow, instance: InstanceRow) -> str:
        lost_s = await self._work_lost_s(operation, instance)
        moved = await self._recorder.conclude(
            operation.id, Action.FAILED_OVER, journal.OK, "failed over"
        )
        snapshot = moved.latest_snapshot_id or ""
        await self._recorder.emit(
            moved,
            "instance.failover_restored",
            f"snapshot {snapshot} restored on host {moved.host_id}",
            snapshot_id=snapshot,
        )
        await self._recorder.emit(
            moved,
            "instance.failover_finished",
            f"instance {moved.id} runs on host {moved.host_id} at epoch {moved.epoch}; "
            f"up to {lost_s:.0f} s of work since snapshot {snapshot} was lost",
            epoch=str(moved.epoch),
            lost_up_to_s=f"{lost_s:.0f}",
            snapshot_id=snapshot,
        )
        return DONE

    async def _work_lost_s(self, operation: OperationRow, instance: InstanceRow) -> float:
        """From the restored snapshot to when the failover began (the host's last word)."""
        async with self._recorder.sessions() as session:
            taken = await session.get(SnapshotRecordRow, instance.latest_snapshot_id or "")
        if taken is None:
            return 0.0
        began = _when(str((operation.details or {}).get("lost_at", ""))) or operation.started_at
        return max((began - taken.created_at).total_seconds(), 0.0)


def _not_the_old(lease: Lease, old_host: str) -> Lease:
    if lease.host_id == old_host:
        raise Unavailable(f"the only host offered is the one being left ({old_host})")
    return lease


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _aborted(operation: OperationRow) -> Action:
    """Where an aborted failover leaves the instance: where it was (running, or fenced:
    a fenced instance is never shown running while its host's work is stopped)."""
    fenced = bool((operation.details or {}).get("was_fenced"))
    return Action.FAILOVER_ABORTED_FENCED if fenced else Action.FAILOVER_ABORTED
