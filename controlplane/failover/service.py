"""FailoverService: when an instance fails over (its host lost, a preemption notice, a
user's request), and what an operator or user sees of it (status, readiness, settings).

Starting one checks the state and writes the journal's first step in one transaction,
under the instance service's per-instance lock, like hibernate and wake; the steps then
run in the background (steps.py). A running instance with no snapshot has nothing to
restore: an automatic failover is skipped with an event saying so, a request is a 409.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..accounts.caller import ALL_ROLES, OPERATE_INSTANCES, Caller
from ..db.models import HOST_DISCONNECTED, HostRow, InstanceRow, OperationRow, SnapshotRecordRow
from ..errors import Conflict
from ..events.bus import EventBus
from ..events.follow import follow
from ..events.schemas import Event
from ..fleet.hub import AgentHub
from ..instances import journal, placements, store
from ..instances.runner import OperationRunner
from ..instances.schemas import InstanceView
from ..instances.service import InstanceService
from ..instances.standbys import StandbyClaims, WarmTarget
from ..instances.states import Action, InstanceState, check
from ..instances.timeouts import Timeouts
from ..providers.base import HostSpec
from .policy import FailoverPolicy, InstanceSettings, SettingsOverride, instance_settings
from .reassign import Reassignment
from .schemas import FailoverReadiness, FailoverStatus, PlacementView

log = logging.getLogger(__name__)
SERVING = (InstanceState.RUNNING.value, InstanceState.FENCED.value)
"""States in which an instance's host holds its work (fenced: stopped, to be re-assigned)."""
HOST_LOST = "host.lost"
PREEMPTION_MARGIN_S = 5.0
"""Kept free before a preemption deadline: the snapshot must be written before it."""
PREEMPTION_SNAPSHOT_S = 120.0
"""The last snapshot's time when a notice gives no deadline."""


class FailoverService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        instances: InstanceService,
        policy: FailoverPolicy,
        *,
        operations: OperationRunner,
        claims: StandbyClaims,
        timeouts: Timeouts,
        hub: AgentHub,
        reassignment: Reassignment,
    ) -> None:
        self._hub = hub
        self.reassignment = reassignment
        """Brings back instances whose host fenced itself (the runtime starts its watch)."""
        self._sessions = sessions
        self._bus = bus
        self._instances = instances
        self._operations = operations
        self._claims = claims
        self._timeouts = timeouts
        self.policy = policy
        self._waiting: set[asyncio.Task[None]] = set()
        self._losses: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Task[None] | None = None

    # --- the watch on host losses -----------------------------------------------------

    def start(self) -> None:
        """Watches the bus for `host.lost` (the hub's verdict) until `close`: each lost
        host's running instance fails over. Start it before the hub, so no loss is missed."""
        if self._watch is None:
            self._watch = asyncio.create_task(
                follow(self._bus, HOST_LOST, self._on_lost), name="failover-losses"
            )

    async def close(self) -> None:
        tasks = [*self._losses, *([self._watch] if self._watch is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watch = None

    def _on_lost(self, event: Event) -> None:
        """Live events only: a loss before a restart is not lost with it — the hub gives
        that host a deadline again (`held_on_disconnected`)."""
        if event.host_id:
            reason = (event.attributes or {}).get("reason") or event.message
            self._spawn_loss(event.host_id, reason)

    def _spawn_loss(self, host_id: str, reason: str) -> None:
        async def react() -> None:
            try:
                await self.on_host_lost(host_id, reason)
            except Exception:  # the watch must go on; failover reports its own failures
                log.exception("reacting to the loss of host %s failed", host_id)

        task = asyncio.create_task(react(), name=f"failover-lost-{host_id}")
        self._losses.add(task)
        task.add_done_callback(self._losses.discard)

    # --- triggers ---------------------------------------------------------------------

    async def on_host_lost(self, host_id: str, reason: str) -> None:
        """The hub lost `host_id`: fail its running instance over if its settings say so.
        A hibernate in flight there has had its command failed by the hub: once it has
        ended (the instance running again, on the lost host) the instance fails over."""
        row = await self._running_on(host_id)
        if row is None:
            await self._after_hibernate(host_id, reason)
            return
        async with self._sessions() as session:
            settings = (await instance_settings(session, row.id)).effective
        if not settings.enabled:
            await self._skipped(row, f"host {host_id} lost ({reason}); failover is off for it")
            return
        if row.latest_snapshot_id is None:
            await self._skipped(row, f"host {host_id} lost ({reason}); nothing to restore")
            return
        await self._try(row.id, "host_lost", f"host {host_id} lost: {reason}", lost_host=host_id)

    async def on_preemption(
        self, host_id: str, deadline: datetime | None, source: str, detail: str
    ) -> None:
        """A last snapshot inside the notice's window, then failover."""
        row = await self._running_on(host_id)
        if row is None:
            return
        left_s = PREEMPTION_SNAPSHOT_S
        if deadline is not None:
            left_s = (deadline - utc_now()).total_seconds() - PREEMPTION_MARGIN_S
        reason = f"host {host_id} will be preempted ({source}) {detail}".strip()
        await self._try(
            row.id, "preemption", reason, lost_host=host_id, snapshot_s=max(left_s, 1.0)
        )

    async def request(self, caller: Caller, instance_id: str) -> InstanceView:
        """`POST /instances/{id}/failover`: a last snapshot if the host answers, then move."""
        caller.require(OPERATE_INSTANCES, "failing instances over")
        snapshot_s = self._timeouts.snapshot_s
        return await self.begin(
            instance_id, "requested", f"requested by {caller.email}", caller, snapshot_s=snapshot_s
        )

    async def _try(self, instance_id: str, trigger: str, reason: str, **options: object) -> None:
        try:
            await self.begin(instance_id, trigger, reason, **options)  # type: ignore[arg-type]
        except Conflict as err:  # it moved on meanwhile (hibernating, deleted, failing over)
            log.info("failover of %s (%s) not started: %s", instance_id, trigger, err.message)

    # --- starting one -----------------------------------------------------------------

    async def begin(
        self,
        instance_id: str,
        trigger: str,
        reason: str,
        caller: Caller | None = None,
        *,
        lost_host: str | None = None,
        snapshot_s: float | None = None,
    ) -> InstanceView:
        """Checks and journals the first step in one transaction; the rest runs later."""
        connected = self._hub.is_connected
        async with self._instances.lock_of(instance_id), self._sessions.begin() as session:
            row = await self._instances.load_for(session, caller, instance_id)
            running = await journal.current(session, instance_id)
            if row.state == InstanceState.FAILING_OVER and running and running.kind == "failover":
                return store.to_view(row, running)  # idempotent: the same operation
            _refuse(row, running, lost_host)
            snapshot_first = snapshot_s is not None and bool(row.host_id and connected(row.host_id))
            if row.latest_snapshot_id is None and not snapshot_first:
                raise Conflict(
                    f"instance {instance_id} has no snapshot to restore and its host does not "
                    "answer; nothing to fail over to",
                    field="latest_snapshot_id",
                )
            was_fenced = row.state == InstanceState.FENCED
            store.transition(row, Action.FAIL_OVER, reason)
            operation = journal.new_operation(
                session, instance_id, "failover", "snapshot" if snapshot_first else "target"
            )
            journal.advance(
                operation,
                operation.step,
                trigger=trigger,
                reason=reason,
                old_host_id=row.host_id or "",
                old_lease_id=row.lease_id or "",
                old_provider=row.provider,
                old_epoch=row.epoch,
                was_fenced=was_fenced,  # an aborted failover goes back to fenced, not running
                lost_at=utc_now().isoformat(),
                snapshot_timeout_s=snapshot_s or 0,
            )
            view = store.to_view(row, operation)
        await self._publish(view, "instance.failover_started", reason, trigger=trigger)
        self._operations.start(operation.id)
        return view

    async def _after_hibernate(self, host_id: str, reason: str) -> None:
        async with self._sessions() as session:
            operation = await session.scalar(
                select(OperationRow)
                .join(InstanceRow, InstanceRow.id == OperationRow.instance_id)
                .where(
                    InstanceRow.host_id == host_id,
                    InstanceRow.state == InstanceState.HIBERNATING.value,
                    OperationRow.kind == "hibernate",
                    OperationRow.finished_at.is_(None),
                )
            )
        if operation is None:
            return

        async def then_fail_over(operation_id: str) -> None:
            await self._operations.wait(operation_id)
            if await self._running_on(host_id) is not None:
                await self.on_host_lost(host_id, f"{reason} (during a hibernate)")

        task = asyncio.create_task(then_fail_over(operation.id), name=f"failover-{host_id}")
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)

    async def held_on_disconnected(self) -> list[str]:
        """Hosts recorded disconnected under a running or hibernating instance (the hub
        gives them a deadline at start-up: `AgentHub.start(also_expected)`)."""
        async with self._sessions() as session:
            found = await session.scalars(
                select(HostRow.id)
                .join(InstanceRow, InstanceRow.host_id == HostRow.id)
                .where(
                    HostRow.state == HOST_DISCONNECTED,
                    InstanceRow.deleted_at.is_(None),
                    InstanceRow.state.in_(
                        (
                            InstanceState.RUNNING.value,
                            InstanceState.HIBERNATING.value,
                            InstanceState.FENCED.value,
                        )
                    ),
                )
                .distinct()
            )
            return list(found)

    async def _running_on(self, host_id: str) -> InstanceRow | None:
        """The instance the host serves, running or fenced (a fenced host that is lost
        instead of coming back is failed over like a running one)."""
        async with self._sessions() as session:
            return await session.scalar(
                select(InstanceRow).where(
                    InstanceRow.host_id == host_id,
                    InstanceRow.deleted_at.is_(None),
                    InstanceRow.state.in_(SERVING),
                )
            )

    async def _skipped(self, row: InstanceRow, message: str) -> None:
        await self._publish(store.to_view(row), "instance.failover_skipped", message, "warning")

    async def _publish(
        self, view: InstanceView, kind: str, message: str, severity: str = "info", **extra: str
    ) -> None:
        await self._bus.publish(
            Event(
                kind,
                message,
                host_id=view.host_id,
                instance_id=view.id,
                severity=severity,  # type: ignore[arg-type]
                attributes={"state": view.state, **extra},
            )
        )

    # --- what users see ---------------------------------------------------------------

    async def status(self, caller: Caller, instance_id: str) -> FailoverStatus:
        caller.require(ALL_ROLES, "reading failover status")
        async with self._sessions() as session:
            row = await self._instances.load_for(session, caller, instance_id)
            history = await placements.history(session, instance_id)
            last = await session.scalar(
                select(OperationRow)
                .where(OperationRow.instance_id == instance_id, OperationRow.kind == "failover")
                .order_by(OperationRow.started_at.desc())
                .limit(1)
            )
        return FailoverStatus(
            instance_id=row.id,
            state=row.state,
            epoch=row.epoch,
            host_id=row.host_id,
            placements=[
                PlacementView(
                    p.epoch,
                    p.host_id,
                    p.lease_id,
                    p.chosen_by,
                    p.started_at,
                    p.ended_at,
                    p.end_reason,
                )
                for p in history
            ],
            last_failover=store.operation_view(last) if last is not None else None,
            last_failover_details={str(k): v for k, v in (last.details or {}).items()}
            if last is not None
            else {},
        )

    async def readiness(self, caller: Caller, instance_id: str) -> FailoverReadiness:
        """Could it fail over now, and what would it lose?"""
        caller.require(ALL_ROLES, "reading failover readiness")
        async with self._sessions() as session:
            row = await self._instances.load_for(session, caller, instance_id)
            settings = (await instance_settings(session, instance_id)).effective
            taken = (
                await session.get(SnapshotRecordRow, row.latest_snapshot_id)
                if row.latest_snapshot_id
                else None
            )
        age_s = (utc_now() - taken.created_at).total_seconds() if taken is not None else None
        reasons = []
        if row.state != InstanceState.RUNNING:
            reasons.append(f"it is {row.state}, not running")
        if not settings.enabled:
            reasons.append("automatic failover is off for it")
        if age_s is None:
            reasons.append("it has no snapshot: a failover would have nothing to restore")
        elif age_s > settings.max_snapshot_age_s:
            reasons.append(
                f"its latest snapshot is {age_s:.0f} s old (max_snapshot_age_s "
                f"{settings.max_snapshot_age_s})"
            )
        warm = await self._warm_target(row, settings.allow_other_region)
        return FailoverReadiness(
            instance_id=row.id,
            ready=not reasons,
            reasons=reasons,
            enabled=settings.enabled,
            warm_target=warm is not None,
            latest_snapshot_id=row.latest_snapshot_id,
            latest_snapshot_at=taken.created_at if taken is not None else None,
            snapshot_age_s=age_s,
            would_lose_up_to_s=age_s if row.state == InstanceState.RUNNING else None,
            warm_target_host_id=warm.host_id if warm is not None else None,
            warm_target_holds_latest=warm.holds_latest if warm is not None else None,
        )

    async def _warm_target(self, row: InstanceRow, allow_other_region: bool) -> WarmTarget | None:
        """The standby a failover would claim now: same region first, then (if allowed) any."""
        spec = HostSpec(row.gpu_type, row.gpu_count, row.region, instance_id=row.id)
        found = await self._claims.peek(spec, avoid_host_id=row.host_id)
        if found is None and allow_other_region:
            found = await self._claims.peek(spec, avoid_host_id=row.host_id, any_region=True)
        return found

    async def instance_settings(self, caller: Caller, instance_id: str) -> InstanceSettings:
        caller.require(ALL_ROLES, "reading failover settings")
        async with self._sessions() as session:
            await self._instances.load_for(session, caller, instance_id)
        return await self.policy.of_instance(instance_id)

    async def set_instance_settings(
        self, caller: Caller, instance_id: str, overrides: SettingsOverride
    ) -> InstanceSettings:
        caller.require(OPERATE_INSTANCES, "changing failover settings")
        async with self._sessions() as session:
            await self._instances.load_for(session, caller, instance_id)
        return await self.policy.set_instance(instance_id, overrides)


def _refuse(row: InstanceRow, running: OperationRow | None, lost_host: str | None) -> None:
    if running is not None:
        raise Conflict(
            f"instance {row.id} is in the middle of {running.kind}; wait for it to finish",
            field="state",
        )
    check(Action.FAIL_OVER, InstanceState(row.state), row.id)
    if lost_host is not None and row.host_id != lost_host:
        raise Conflict(f"instance {row.id} no longer runs on host {lost_host}", field="host_id")
