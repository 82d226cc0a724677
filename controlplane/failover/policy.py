"""Failover settings: one global row (operators), per-instance overrides (its team).

An instance's unset field inherits the global value; the global row's unset fields take
the defaults below. `snapshot_every_s` also drives the periodic snapshots that bound the
work a failover can lose: on by default (every 15 min) for every running instance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import FailoverSettingsRow, InstanceRow

GLOBAL = "global"
SNAPSHOT_EVERY_S = 900
MAX_SNAPSHOT_AGE_S = 1800


@dataclass(frozen=True)
class FailoverSettings:
    enabled: bool = True
    """Fail a running instance over on its own when its host is lost."""
    allow_other_region: bool = False
    """May take a warm standby of the same GPU type in another region."""
    snapshot_every_s: int = SNAPSHOT_EVERY_S
    """Periodic snapshots while running (0: none); bounds the work a failover loses."""
    max_snapshot_age_s: int = MAX_SNAPSHOT_AGE_S
    """Readiness: a latest snapshot older than this is a reason the instance is not ready."""


@dataclass(frozen=True)
class SettingsOverride:
    """An instance's own values; None inherits the global one."""

    enabled: bool | None = None
    allow_other_region: bool | None = None
    snapshot_every_s: int | None = None
    max_snapshot_age_s: int | None = None


@dataclass(frozen=True)
class InstanceSettings:
    instance_id: str
    overrides: SettingsOverride
    effective: FailoverSettings


def _values(row: FailoverSettingsRow | None) -> dict[str, object]:
    if row is None:
        return {}
    names = [f.name for f in fields(SettingsOverride)]
    return {n: getattr(row, n) for n in names if getattr(row, n) is not None}


def merge(base: FailoverSettings, row: FailoverSettingsRow | None) -> FailoverSettings:
    return replace(base, **_values(row))  # type: ignore[arg-type]


class FailoverPolicy:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def global_settings(self) -> FailoverSettings:
        async with self._sessions() as session:
            return merge(FailoverSettings(), await session.get(FailoverSettingsRow, GLOBAL))

    async def set_global(self, settings: FailoverSettings) -> FailoverSettings:
        await self._store(GLOBAL, asdict(settings))
        return settings

    async def of_instance(self, instance_id: str) -> InstanceSettings:
        async with self._sessions() as session:
            return await instance_settings(session, instance_id)

    async def set_instance(self, instance_id: str, overrides: SettingsOverride) -> InstanceSettings:
        await self._store(instance_id, asdict(overrides))
        return await self.of_instance(instance_id)

    async def _store(self, scope: str, values: dict[str, object]) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(FailoverSettingsRow, scope, with_for_update=True)
            if row is None:
                row = FailoverSettingsRow(scope=scope, updated_at=utc_now())
                session.add(row)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utc_now()

    async def snapshot_every(
        self, session: AsyncSession, rows: list[InstanceRow]
    ) -> dict[str, int]:
        """For the snapshot schedule: each instance's period in seconds (0: none). The
        instance's failover override wins, then its own `snapshot_schedule`, then global."""
        scopes = [GLOBAL, *(row.id for row in rows)]
        found = await session.scalars(
            select(FailoverSettingsRow).where(FailoverSettingsRow.scope.in_(scopes))
        )
        by_scope = {row.scope: row for row in found}
        default = merge(FailoverSettings(), by_scope.get(GLOBAL)).snapshot_every_s
        periods = {}
        for row in rows:
            own = by_scope.get(row.id)
            schedule = (row.snapshot_schedule or {}).get("every_s")
            if own is not None and own.snapshot_every_s is not None:
                periods[row.id] = own.snapshot_every_s
            else:
                periods[row.id] = int(schedule) if schedule else default
        return periods


async def instance_settings(session: AsyncSession, instance_id: str) -> InstanceSettings:
    base = merge(FailoverSettings(), await session.get(FailoverSettingsRow, GLOBAL))
    own = await session.get(FailoverSettingsRow, instance_id)
    overrides = SettingsOverride(**_values(own))  # type: ignore[arg-type]
    return InstanceSettings(instance_id, overrides, merge(base, own))
