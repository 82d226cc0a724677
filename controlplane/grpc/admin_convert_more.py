"""AdminService messages for failover, warm pools and savings (instances, snapshots,
drains and join tokens are in `admin_convert.py`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from torpor.proto.v1 import admin_pb2

from ..failover.policy import FailoverSettings, InstanceSettings, SettingsOverride
from ..failover.schemas import FailoverReadiness, FailoverStatus, PlacementView
from ..savings.schemas import Amounts, Breakdown, Comparison, GroupAmounts, Month, Summary
from ..warmpool.schemas import PoolStatus, PoolView, StandbyView
from .admin_convert import operation_to_proto, set_times


def failover_status_to_proto(view: FailoverStatus) -> admin_pb2.FailoverStatus:
    message = admin_pb2.FailoverStatus(
        instance_id=view.instance_id,
        state=view.state,
        epoch=view.epoch,
        host_id=view.host_id or "",
        placements=[_placement(p) for p in view.placements],
        last_failover_details={k: _text(v) for k, v in view.last_failover_details.items()},
    )
    if view.last_failover is not None:
        message.last_failover.CopyFrom(operation_to_proto(view.last_failover))
    return message


def _text(value: Any) -> str:
    """A journal detail as a map value: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _placement(view: PlacementView) -> admin_pb2.Placement:
    message = admin_pb2.Placement(
        epoch=view.epoch,
        host_id=view.host_id,
        lease_id=view.lease_id or "",
        chosen_by=view.chosen_by,
        end_reason=view.end_reason,
    )
    set_times(message, started_at=view.started_at, ended_at=view.ended_at)
    return message


def readiness_to_proto(view: FailoverReadiness) -> admin_pb2.FailoverReadiness:
    message = admin_pb2.FailoverReadiness(
        instance_id=view.instance_id,
        ready=view.ready,
        reasons=view.reasons,
        enabled=view.enabled,
        latest_snapshot_id=view.latest_snapshot_id or "",
        warm_target=view.warm_target,
        warm_target_host_id=view.warm_target_host_id or "",
    )
    if view.warm_target_holds_latest is not None:
        message.warm_target_holds_latest = view.warm_target_holds_latest
    if view.snapshot_age_s is not None:
        message.snapshot_age_s = view.snapshot_age_s
    if view.would_lose_up_to_s is not None:
        message.would_lose_up_to_s = view.would_lose_up_to_s
    set_times(message, latest_snapshot_at=view.latest_snapshot_at)
    return message


def _setting_values(
    values: FailoverSettings | SettingsOverride,
) -> admin_pb2.FailoverSettingValues:
    """Unset (None) stays unset: an instance's field that inherits the global value."""
    present = {k: v for k, v in asdict(values).items() if v is not None}
    return admin_pb2.FailoverSettingValues(**present)


def global_settings_to_proto(settings: FailoverSettings) -> admin_pb2.FailoverSettings:
    return admin_pb2.FailoverSettings(effective=_setting_values(settings))


def instance_settings_to_proto(view: InstanceSettings) -> admin_pb2.FailoverSettings:
    return admin_pb2.FailoverSettings(
        instance_id=view.instance_id,
        effective=_setting_values(view.effective),
        overrides=_setting_values(view.overrides),
    )


def setting_values(values: admin_pb2.FailoverSettingValues) -> dict[str, object]:
    """The fields a request sets (the rest: default or inherited, as the HTTP PUT's null)."""
    return {field.name: value for field, value in values.ListFields()}


def pool_to_proto(view: PoolView) -> admin_pb2.WarmPool:
    message = admin_pb2.WarmPool(
        id=view.id,
        provider=view.provider,
        gpu_type=view.gpu_type,
        gpu_count=view.gpu_count,
        region=view.region,
        target=view.target,
        enabled=view.enabled,
        max_idle_s=view.max_idle_s,
        team_id=view.team_id or "",
        shared=view.shared,
    )
    set_times(message, created_at=view.created_at, updated_at=view.updated_at)
    return message


def pool_status_to_proto(view: PoolStatus) -> admin_pb2.WarmPoolStatus:
    return admin_pb2.WarmPoolStatus(
        pool=pool_to_proto(view.pool),
        ready=view.ready,
        acquiring=view.acquiring,
        releasing=view.releasing,
        claimed=view.claimed,
        standby_seconds=view.standby_seconds,
        cost_cents=view.cost_cents,
    )


def standby_to_proto(view: StandbyView) -> admin_pb2.StandbyHost:
    message = admin_pb2.StandbyHost(
        id=view.id,
        pool_id=view.pool_id,
        state=view.state,
        host_id=view.host_id or "",
        lease_id=view.lease_id or "",
        gpu_type=view.gpu_type,
        gpu_count=view.gpu_count,
        region=view.region,
        price_per_hour_cents=view.price_per_hour_cents,
        prefetched=view.prefetched,
        claimed_by_instance=view.claimed_by_instance or "",
        error=view.error,
    )
    set_times(
        message,
        created_at=view.created_at,
        acquired_at=view.acquired_at,
        ended_at=view.ended_at,
        claimed_at=view.claimed_at,
    )
    return message


def amounts_to_proto(amounts: Amounts) -> admin_pb2.SavingsAmounts:
    return admin_pb2.SavingsAmounts(**vars(amounts))


def summary_to_proto(view: Summary, team_id: str) -> admin_pb2.SavingsSummary:
    message = admin_pb2.SavingsSummary(
        period=view.period, amounts=amounts_to_proto(view.amounts), team_id=team_id
    )
    set_times(message, since=view.since, until=view.until)
    return message


def _group(view: GroupAmounts) -> admin_pb2.SavingsGroup:
    return admin_pb2.SavingsGroup(key=view.key, amounts=amounts_to_proto(view.amounts))


def breakdown_to_proto(view: Breakdown) -> admin_pb2.SavingsBreakdown:
    return admin_pb2.SavingsBreakdown(
        period=view.period,
        by_gpu_type=[_group(g) for g in view.by_gpu_type],
        by_instance=[_group(g) for g in view.by_instance],
    )


def history_to_proto(months: list[Month]) -> admin_pb2.SavingsHistory:
    return admin_pb2.SavingsHistory(
        months=[
            admin_pb2.SavingsMonth(month=m.month, amounts=amounts_to_proto(m.amounts))
            for m in months
        ]
    )


def comparison_to_proto(view: Comparison, team_id: str) -> admin_pb2.SavingsComparison:
    fields = {k: v for k, v in vars(view).items() if k != "references"}
    return admin_pb2.SavingsComparison(
        **fields,
        references=[admin_pb2.CloudReference(**vars(r)) for r in view.references],
        team_id=team_id,
    )
