"""InstanceService: what users (and the idle reports of agents) ask of instances.

Every request that starts an operation checks the state and writes the first journal entry
in one transaction, under a per-instance lock, then leaves the work to the operation runner in
the background. A repeated hibernate while hibernating (or wake while waking) answers the
operation already running: the request is idempotent, not a conflict.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..accounts.caller import ALL_ROLES, OPERATE_INSTANCES, Caller
from ..db.models import InstanceRow
from ..errors import Conflict, InvalidArgument, NotFound, Unavailable
from ..events.bus import EventBus
from ..events.schemas import Event
from ..providers.base import HostSpec, Offer
from ..repository_keys.keyring import RepositoryKeyring
from . import journal, store
from .agents import AgentCommands
from .hibernation import IDLE
from .providers import Providers, choose
from .runner import OperationRunner
from .schemas import InstanceSpec, InstanceView, Page, SnapshotKind, SnapshotView
from .snapshots import SnapshotService, record, to_view
from .states import Action, InstanceState, check, require
from .timeouts import Timeouts
from .validation import validate_spec

log = logging.getLogger(__name__)
S = InstanceState


class InstanceService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        providers: Providers,
        agents: AgentCommands,
        *,
        snapshots: SnapshotService,
        operations: OperationRunner,
        timeouts: Timeouts,
        repository_keys: RepositoryKeyring,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._providers = providers
        self._agents = agents
        self._snapshots = snapshots
        self._operations = operations
        self._timeouts = timeouts
        self._keys = repository_keys
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def offers(self, caller: Caller) -> list[Offer]:
        caller.require(ALL_ROLES, "listing offers")
        return await self._providers.offers()

    # --- reading ------------------------------------------------------------------------

    async def get(self, caller: Caller, instance_id: str) -> InstanceView:
        caller.require(ALL_ROLES, "reading instances")
        async with self._sessions() as session:
            row = await self._owned(session, caller, instance_id)
            return store.to_view(row, await journal.current(session, instance_id))

    async def list(
        self,
        caller: Caller,
        limit: int,
        offset: int,
        all_teams: bool = False,
        *,
        team_id: str | None = None,
        state: str | None = None,
    ) -> Page[InstanceView]:
        """The caller's team's instances; with `all_teams` (operators) every team's, or
        `team_id`'s only; `state` keeps one state (InvalidArgument naming it if unknown)."""
        caller.require(ALL_ROLES, "listing instances")
        team: str | None = caller.team_id
        if all_teams:
            caller.require_operator()
            team = team_id
        states = parse_state(state)
        async with self._sessions() as session:
            return await store.page(session, team, limit, offset, states=states)

    async def _owned(
        self, session: AsyncSession, caller: Caller, instance_id: str, lock: bool = False
    ) -> InstanceRow:
        """The caller's team's live instance; NotFound for another team's or a deleted one."""
        try:
            row = await store.load(session, instance_id, lock=lock)
        except NotFound:
            raise NotFound(f"no instance {instance_id} in your current team") from None
        if row.deleted_at is not None:
            raise NotFound(f"no instance {instance_id} in your current team (it was deleted)")
        caller.owns(row.team_id, "instance", instance_id)
        return row

    # --- operations ---------------------------------------------------------------------

    async def create(self, caller: Caller, spec: InstanceSpec) -> InstanceView:
        """Records the instance (provisioning) and places it in the background."""
        caller.require(OPERATE_INSTANCES, "creating instances")
        validate_spec(spec)
        host_spec = HostSpec(spec.gpu_type, spec.gpu_count, spec.region)
        provider = await choose(self._providers, host_spec, spec.provider)
        async with self._sessions.begin() as session:
            row = store.new_row(spec, provider, caller.team_id, caller.user_id, self._keys)
            session.add(row)
            await session.flush()
            operation = journal.new_operation(session, row.id, "create", "acquire")
            view = store.to_view(row, operation)
        await self._emit(view, "instance.created", f"instance {view.id} created by {caller.email}")
        self._operations.start(operation.id)
        return view

    async def hibernate(
        self, caller: Caller, instance_id: str, reason: str = "requested"
    ) -> InstanceView:
        caller.require(OPERATE_INSTANCES, "hibernating instances")
        return await self._begin(caller, instance_id, Action.HIBERNATE, reason)

    async def wake(self, caller: Caller, instance_id: str) -> InstanceView:
        caller.require(OPERATE_INSTANCES, "waking instances")
        return await self._begin(caller, instance_id, Action.WAKE, "requested")

    async def _begin(
        self, caller: Caller | None, instance_id: str, action: Action, reason: str
    ) -> InstanceView:
        """Checks the state and journals the first step in one transaction."""
        kind, first_step, busy = {
            Action.HIBERNATE: ("hibernate", "snapshot", S.HIBERNATING),
            Action.WAKE: ("wake", "acquire", S.WAKING),
        }[action]
        async with self._locks[instance_id], self._sessions.begin() as session:
            row = await self._load_for(session, caller, instance_id)
            running = await journal.current(session, instance_id)
            if row.state == busy and running is not None and running.kind == kind:
                return store.to_view(row, running)  # idempotent: the same operation
            _refuse_if_busy(instance_id, running)
            check(action, InstanceState(row.state), instance_id)
            store.transition(row, action, reason)
            operation = journal.new_operation(session, instance_id, kind, first_step)
            journal.advance(operation, first_step, reason=reason)
            view = store.to_view(row, operation)
        await self._emit(
            view, f"instance.{view.state}", f"instance {instance_id}: {kind} ({reason})"
        )
        self._operations.start(operation.id)
        return view

    async def _load_for(
        self, session: AsyncSession, caller: Caller | None, instance_id: str
    ) -> InstanceRow:
        if caller is not None:
            return await self._owned(session, caller, instance_id, lock=True)
        return await store.load(session, instance_id, lock=True)

    load_for = _load_for
    """The caller's live instance, locked (any instance when `caller` is None)."""

    def lock_of(self, instance_id: str) -> asyncio.Lock:
        """Held while an operation is checked and journalled (failover starts one too)."""
        return self._locks[instance_id]

    async def delete(self, caller: Caller, instance_id: str) -> InstanceView:
        """Releases its host and forgets its snapshots, then marks it deleted (waits)."""
        caller.require(OPERATE_INSTANCES, "deleting instances")
        async with self._locks[instance_id], self._sessions.begin() as session:
            row = await self._owned(session, caller, instance_id, lock=True)
            running = await journal.current(session, instance_id)
            if running is None or running.kind != "delete":
                check(Action.DELETE, InstanceState(row.state), instance_id)
                _refuse_if_busy(instance_id, running)
                running = journal.new_operation(session, instance_id, "delete", "release")
            operation_id = running.id
        self._operations.start(operation_id)
        await self._operations.wait(operation_id)
        async with self._sessions() as session:
            row = await store.load(session, instance_id)
            if row.deleted_at is None:
                raise Unavailable(f"deleting instance {instance_id} failed; try again")
            return store.to_view(row)

    async def take_snapshot(
        self, caller: Caller, instance_id: str, keep_forever: bool = False
    ) -> SnapshotView:
        """A manual snapshot of a running instance (waits for the agent)."""
        caller.require(OPERATE_INSTANCES, "taking snapshots")
        async with self._sessions() as session:
            row = await self._owned(session, caller, instance_id)
            require(InstanceState(row.state), S.RUNNING, "take a snapshot of", instance_id)
            host_id, epoch = row.host_id, row.epoch
        assert host_id is not None
        return await self.snapshot_now(instance_id, host_id, "manual", keep_forever, epoch=epoch)

    async def snapshot_now(
        self,
        instance_id: str,
        host_id: str,
        kind: SnapshotKind,
        keep_forever: bool = False,
        *,
        epoch: int = 0,
    ) -> SnapshotView:
        """Has the host's agent take a snapshot, records it, applies retention. A snapshot
        that comes back after the instance moved on (failed over) is never recorded."""
        taken = await self._agents.take_snapshot(
            host_id,
            f"snap-{uuid.uuid4().hex}",
            kind,
            keep_forever,
            self._timeouts.snapshot_s,
            epoch=epoch,
        )
        async with self._sessions.begin() as session:
            row = await store.load(session, instance_id, lock=True)
            moved = row.host_id != host_id or row.epoch != epoch or row.state != S.RUNNING
            view = None if moved else to_view(record(session, row, taken, kind, keep_forever))
        if view is None:
            await self._ignore_stale(instance_id, host_id, epoch, taken.snapshot_id)
        await self._snapshots.apply_retention(instance_id)
        return view

    # --- auto-hibernate ---------------------------------------------------------------

    async def idle_policy_of(self, host_id: str) -> dict[str, Any]:
        """The idle-policy override of the live instance on `host_id` (empty: none)."""
        async with self._sessions() as session:
            policy = await session.scalar(
                select(InstanceRow.idle_policy).where(
                    InstanceRow.host_id == host_id, InstanceRow.deleted_at.is_(None)
                )
            )
        return dict(policy or {})

    async def on_idle_report(self, host_id: str, idle: bool) -> None:
        """An agent says its host is idle: hibernate its instance if it asked for that."""
        if not idle:
            return
        async with self._sessions() as session:
            row = await session.scalar(
                select(InstanceRow).where(
                    InstanceRow.host_id == host_id, InstanceRow.deleted_at.is_(None)
                )
            )
        if row is None or not row.auto_hibernate or row.state != S.RUNNING:
            return
        log.info("host %s is idle: hibernating instance %s", host_id, row.id)
        try:
            await self._begin(None, row.id, Action.HIBERNATE, IDLE)
        except Conflict as err:  # it moved on meanwhile (a user hibernated it first)
            log.info("idle hibernate of %s skipped: %s", row.id, err.message)

    async def _ignore_stale(
        self, instance_id: str, host_id: str, epoch: int, snapshot_id: str
    ) -> NoReturn:
        message = (
            f"snapshot {snapshot_id} from host {host_id} (epoch {epoch}) ignored: the "
            "instance is no longer placed there"
        )
        await self._bus.publish(
            Event(
                "snapshot.ignored_stale",
                message,
                host_id=host_id,
                instance_id=instance_id,
                severity="warning",
                attributes={"snapshot_id": snapshot_id, "epoch": str(epoch)},
            )
        )
        raise Conflict(message + "; it moved to another host meanwhile", field="state")

    async def _emit(self, view: InstanceView, kind: str, message: str) -> None:
        await self._bus.publish(
            Event(
                kind,
                message,
                host_id=view.host_id,
                instance_id=view.id,
                attributes={"state": view.state},
            )
        )


def parse_state(state: str | None) -> list[str] | None:
    """A state filter as a list of states (None: any); InvalidArgument for an unknown one."""
    if not state:
        return None
    try:
        return [InstanceState(state).value]
    except ValueError:
        names = ", ".join(s.value for s in InstanceState)
        raise InvalidArgument(f"unknown state {state!r}; one of: {names}", field="state") from None


def _refuse_if_busy(instance_id: str, running: object) -> None:
    kind = getattr(running, "kind", None)
    if kind is not None:
        raise Conflict(
            f"instance {instance_id} is in the middle of {kind}; wait for it to finish",
            field="state",
        )
