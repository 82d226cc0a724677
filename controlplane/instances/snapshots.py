"""Snapshot records: what the control plane knows of each instance's snapshots, the
retention policy per team, and forgetting (the repository's data goes through the
instance's provider)."""

from __future__ import annotations

import logging
from dataclasses import asdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..accounts.caller import ALL_ROLES, MANAGE_TEAM, OPERATE_INSTANCES, Caller
from ..db.models import InstanceRow, RetentionPolicyRow, SnapshotRecordRow
from ..errors import Conflict, InvalidArgument, NotFound
from .agents import Taken
from .providers import Providers
from .retention import Candidate, to_forget
from .schemas import Page, RetentionPolicy, SnapshotKind, SnapshotView
from .states import InstanceState

log = logging.getLogger(__name__)
MAX_KEEP = 10_000


def record(
    session: AsyncSession, row: InstanceRow, taken: Taken, kind: SnapshotKind, keep: bool
) -> SnapshotRecordRow:
    """Adds the record (in the caller's transaction) and makes it the instance's latest."""
    record_row = SnapshotRecordRow(
        id=taken.snapshot_id,
        instance_id=row.id,
        team_id=row.team_id,
        kind=kind,
        bytes=taken.bytes,
        files=taken.files,
        keep_forever=keep,
        created_at=utc_now(),
    )
    session.add(record_row)
    row.latest_snapshot_id = taken.snapshot_id
    return record_row


def to_view(row: SnapshotRecordRow) -> SnapshotView:
    return SnapshotView(**{name: getattr(row, name) for name in SnapshotView.__dataclass_fields__})


def validate_policy(policy: RetentionPolicy) -> None:
    for name, value in asdict(policy).items():
        if not 0 <= value <= MAX_KEEP:
            raise InvalidArgument(f"{name} must be 0..{MAX_KEEP}", field=name)
    if policy.keep_last < 1:
        raise InvalidArgument("keep_last must be at least 1", field="keep_last")


class SnapshotService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], providers: Providers) -> None:
        self._sessions = sessions
        self._providers = providers

    async def page(
        self, caller: Caller, instance_id: str, limit: int, offset: int
    ) -> Page[SnapshotView]:
        """The instance's live snapshots, newest first."""
        caller.require(ALL_ROLES, "listing snapshots")
        async with self._sessions() as session:
            instance = await session.get(InstanceRow, instance_id)
            if instance is None:
                raise NotFound(f"no instance {instance_id}", field="instance_id")
            caller.owns(instance.team_id, "instance", instance_id)
            query = select(SnapshotRecordRow).where(
                SnapshotRecordRow.instance_id == instance_id,
                SnapshotRecordRow.deleted_at.is_(None),
            )
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(SnapshotRecordRow.created_at.desc(), SnapshotRecordRow.id)
                .limit(limit)
                .offset(offset)
            )
            return Page([to_view(r) for r in rows], int(total or 0), limit, offset)

    async def get(self, caller: Caller, snapshot_id: str) -> SnapshotView:
        caller.require(ALL_ROLES, "reading snapshots")
        async with self._sessions() as session:
            return to_view(await self._owned(session, caller, snapshot_id))

    async def _owned(
        self, session: AsyncSession, caller: Caller, snapshot_id: str
    ) -> SnapshotRecordRow:
        row = await session.get(SnapshotRecordRow, snapshot_id)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"no snapshot {snapshot_id}", field="snapshot_id")
        caller.owns(row.team_id, "snapshot", snapshot_id)
        return row

    async def keep_forever(self, caller: Caller, snapshot_id: str, keep: bool) -> SnapshotView:
        caller.require(OPERATE_INSTANCES, "pinning snapshots")
        async with self._sessions.begin() as session:
            row = await self._owned(session, caller, snapshot_id)
            row.keep_forever = keep
            return to_view(row)

    async def delete(self, caller: Caller, snapshot_id: str) -> SnapshotView:
        """Forgets one snapshot; never a pinned one nor a hibernated instance's latest."""
        caller.require(OPERATE_INSTANCES, "deleting snapshots")
        async with self._sessions() as session:
            row = await self._owned(session, caller, snapshot_id)
            instance = await session.get(InstanceRow, row.instance_id)
            _refuse_protected(row, instance)
        assert instance is not None
        await self._forget(instance, [snapshot_id])
        async with self._sessions.begin() as session:
            row = await self._owned(session, caller, snapshot_id)
            row.deleted_at = utc_now()
            return to_view(row)

    async def _forget(self, instance: InstanceRow, snapshot_ids: list[str]) -> None:
        provider = self._providers.get(instance.provider)
        await provider.forget_snapshots(instance.id, snapshot_ids)

    async def policy(self, caller: Caller) -> RetentionPolicy:
        caller.require(ALL_ROLES, "reading the retention policy")
        return await self.policy_of(caller.team_id)

    async def policy_of(self, team_id: str) -> RetentionPolicy:
        async with self._sessions() as session:
            row = await session.get(RetentionPolicyRow, team_id)
        if row is None:
            return RetentionPolicy()
        return RetentionPolicy(row.keep_last, row.keep_daily, row.keep_weekly)

    async def set_policy(self, caller: Caller, policy: RetentionPolicy) -> RetentionPolicy:
        caller.require(MANAGE_TEAM, "changing the retention policy")
        validate_policy(policy)
        async with self._sessions.begin() as session:
            row = await session.get(RetentionPolicyRow, caller.team_id)
            if row is None:
                row = RetentionPolicyRow(team_id=caller.team_id, **asdict(policy))
                session.add(row)
            row.keep_last, row.keep_daily, row.keep_weekly = (
                policy.keep_last,
                policy.keep_daily,
                policy.keep_weekly,
            )
            row.updated_at = utc_now()
        return policy

    async def apply_retention(self, instance_id: str) -> list[str]:
        """Forgets what the team's policy no longer keeps; returns the forgotten ids."""
        async with self._sessions() as session:
            instance = await session.get(InstanceRow, instance_id)
            if instance is None:
                return []
            rows = await session.scalars(
                select(SnapshotRecordRow).where(
                    SnapshotRecordRow.instance_id == instance_id,
                    SnapshotRecordRow.deleted_at.is_(None),
                )
            )
            candidates = [Candidate(r.id, r.created_at, r.keep_forever) for r in rows]
        policy = await self.policy_of(instance.team_id)
        protected = {instance.latest_snapshot_id} if instance.latest_snapshot_id else set()
        doomed = to_forget(candidates, policy, protected)
        if doomed:
            await self._forget(instance, doomed)
            await self._mark_deleted(doomed)
        return doomed

    async def forget_all(self, instance: InstanceRow) -> None:
        """The instance is being deleted: its whole repository goes, pinned snapshots and
        any manifest no record names (a fenced writer's, a damaged one) included; forgetting
        snapshot by snapshot would stop at the first manifest prune cannot read."""
        async with self._sessions() as session:
            ids = list(
                await session.scalars(
                    select(SnapshotRecordRow.id).where(
                        SnapshotRecordRow.instance_id == instance.id,
                        SnapshotRecordRow.deleted_at.is_(None),
                    )
                )
            )
        await self._providers.get(instance.provider).delete_repository(instance.id)
        if ids:
            await self._mark_deleted(ids)

    async def _mark_deleted(self, ids: list[str]) -> None:
        now = utc_now()
        async with self._sessions.begin() as session:
            for row in await session.scalars(
                select(SnapshotRecordRow).where(SnapshotRecordRow.id.in_(ids))
            ):
                row.deleted_at = row.deleted_at or now


def _refuse_protected(row: SnapshotRecordRow, instance: InstanceRow | None) -> None:
    if row.keep_forever:
        raise Conflict(
            f"snapshot {row.id} is kept forever; unpin it first "
            f"(POST /api/v1/snapshots/{row.id}/keep-forever with keep_forever=false)",
            field="snapshot_id",
        )
    if (
        instance is not None
        and instance.latest_snapshot_id == row.id
        and instance.state in (InstanceState.HIBERNATED, InstanceState.WAKING)
    ):
        raise Conflict(
            f"snapshot {row.id} is how hibernated instance {instance.id} wakes up; "
            "wake or delete the instance instead",
            field="snapshot_id",
        )
