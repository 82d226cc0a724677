"""Tables and lines for instances, snapshots, drains, join tokens, failover, warm pools
and savings (`output.py` has the shared helpers and hosts)."""

from __future__ import annotations

from collections.abc import Sequence

from torpor.ctl.output import age, size, table
from torpor.proto.v1 import admin_pb2


def instances_table(instances: Sequence[admin_pb2.Instance]) -> str:
    headers = ("ID", "NAME", "TEAM", "STATE", "SINCE", "HOST", "GPUS", "OPERATION")
    return table(headers, [_instance_row(i) for i in instances])


def _instance_row(instance: admin_pb2.Instance) -> tuple[str, ...]:
    return (
        instance.id,
        instance.name,
        instance.team_id,
        instance.state,
        age(instance.state_changed_at),
        instance.host_id or "-",
        f"{instance.gpu_count}x {instance.gpu_type}",
        _operation(instance),
    )


def _operation(instance: admin_pb2.Instance) -> str:
    if not instance.HasField("operation"):
        return "-"
    return f"{instance.operation.kind} ({instance.operation.step})"


def instance_details(instance: admin_pb2.Instance) -> str:
    pairs = [
        ("id", instance.id),
        ("name", instance.name),
        ("team", instance.team_id),
        ("state", f"{instance.state} ({instance.state_reason}), {age(instance.state_changed_at)}"),
        ("operation", _operation(instance)),
        ("gpus", f"{instance.gpu_count}x {instance.gpu_type} in {instance.region}"),
        ("provider", instance.provider),
        ("host", instance.host_id or "-"),
        ("latest snapshot", instance.latest_snapshot_id or "-"),
        ("auto-hibernate", "on" if instance.auto_hibernate else "off"),
        ("created", age(instance.created_at)),
    ]
    pairs += [(f"placement.{k}", v) for k, v in sorted(instance.placement.items())]
    return details(pairs)


def operation_line(instance: admin_pb2.Instance) -> str:
    """What a hibernate or wake answered: the state and the operation under way."""
    if not instance.HasField("operation"):
        return f"instance {instance.id} is {instance.state}"
    op = instance.operation
    return f"instance {instance.id} {instance.state}: {op.kind} {op.id} at step {op.step}"


def progress(instance: admin_pb2.Instance) -> str:
    """A --wait progress line; printed each time it changes."""
    step = f", step {instance.operation.step}" if instance.HasField("operation") else ""
    return f"  {instance.state}{step}"


def snapshots_table(snapshots: Sequence[admin_pb2.Snapshot]) -> str:
    headers = ("ID", "KIND", "SIZE", "FILES", "PINNED", "CREATED")
    rows = [
        (
            s.id,
            s.kind,
            size(s.bytes) if s.HasField("bytes") else "-",
            str(s.files) if s.HasField("files") else "-",
            "yes" if s.keep_forever else "no",
            age(s.created_at),
        )
        for s in snapshots
    ]
    return table(headers, rows)


def drain_line(drain: admin_pb2.HostDrain, moving_by: str = "hibernating") -> str:
    if not drain.draining:
        return f"host {drain.host_id} takes placements again"
    if drain.HasField("drained_at"):
        return f"host {drain.host_id} drained: no instance left on it"
    moving = ", ".join(drain.moving_instance_ids) or "none"
    return (
        f"host {drain.host_id} draining (no new placements); {moving_by}: {moving}; "
        f"`torporctl watch --host {drain.host_id}` shows host.drained"
    )


def tokens_table(tokens: Sequence[admin_pb2.JoinToken]) -> str:
    headers = ("ID", "STATUS", "CREATED", "EXPIRES", "USED BY", "NOTE")
    rows = [
        (
            t.id,
            t.status,
            age(t.created_at),
            t.expires_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%SZ"),
            t.used_by_host_id or "-",
            t.note,
        )
        for t in tokens
    ]
    return table(headers, rows)


def token_created_hint(token: admin_pb2.JoinToken) -> str:
    expires = token.expires_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%SZ")
    return (
        f"join token {token.id}, for one host, valid until {expires}: set "
        "control_plane.join_token in that host's /etc/torpor/agent.toml"
    )


def details(pairs: Sequence[tuple[str, str]]) -> str:
    """'key  value' lines with the values aligned."""
    width = max(len(key) for key, _ in pairs)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in pairs)


def failover_status(status: admin_pb2.FailoverStatus) -> str:
    pairs = [
        ("instance", status.instance_id),
        ("state", status.state),
        ("epoch", str(status.epoch)),
        ("host", status.host_id or "-"),
    ]
    if status.HasField("last_failover"):
        op = status.last_failover
        outcome = op.outcome or f"at step {op.step}"
        pairs.append(("last failover", f"{op.id} {outcome}, started {age(op.started_at)}"))
        pairs += [(f"  {k}", v) for k, v in sorted(status.last_failover_details.items())]
    text = details(pairs)
    if not status.placements:
        return text
    headers = ("EPOCH", "HOST", "CHOSEN BY", "STARTED", "ENDED")
    rows = [
        (
            str(p.epoch),
            p.host_id,
            p.chosen_by,
            age(p.started_at),
            f"{age(p.ended_at)} ({p.end_reason})" if p.HasField("ended_at") else "-",
        )
        for p in status.placements
    ]
    return f"{text}\n\n{table(headers, rows)}"


def failover_readiness(readiness: admin_pb2.FailoverReadiness) -> str:
    pairs = [
        ("instance", readiness.instance_id),
        ("ready", "yes" if readiness.ready else "no"),
        ("automatic failover", "on" if readiness.enabled else "off"),
        ("latest snapshot", readiness.latest_snapshot_id or "-"),
        ("snapshot age", _seconds(readiness.HasField("snapshot_age_s"), readiness.snapshot_age_s)),
        (
            "would lose up to",
            _seconds(readiness.HasField("would_lose_up_to_s"), readiness.would_lose_up_to_s),
        ),
        ("warm standby", readiness.warm_target_host_id or "-"),
        (
            "holds latest",
            _yes_no(
                readiness.HasField("warm_target_holds_latest"), readiness.warm_target_holds_latest
            ),
        ),
    ]
    pairs += [("why not", reason) for reason in readiness.reasons]
    return details(pairs)


def _yes_no(present: bool, value: bool) -> str:
    return ("yes" if value else "no") if present else "-"


def _seconds(present: bool, value: float) -> str:
    return f"{value:.0f} s" if present else "-"


def cents(value: float) -> str:
    """Standby cost in cents, shown as currency units to the cent."""
    return f"{value / 100:.2f} USD"


def failover_settings(settings: admin_pb2.FailoverSettings) -> str:
    """The effective values; for an instance, whether each is its own or the global one."""
    names = [field.name for field in admin_pb2.FailoverSettingValues.DESCRIPTOR.fields]
    values = [_setting(getattr(settings.effective, name)) for name in names]
    if not settings.instance_id:
        pairs = list(zip(names, values, strict=True))
        return "global failover settings\n\n" + table(("SETTING", "VALUE"), pairs)
    own = {field.name for field, _ in settings.overrides.ListFields()}
    sources = ["instance" if name in own else "global" for name in names]
    rows = list(zip(names, values, sources, strict=True))
    title = f"failover settings of instance {settings.instance_id}"
    return f"{title}\n\n" + table(("SETTING", "VALUE", "FROM"), rows)


def _setting(value: bool | int) -> str:
    """As `--set` takes it: true/false, or whole seconds."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def pools_table(pools: Sequence[admin_pb2.WarmPoolStatus]) -> str:
    headers = (
        *("ID", "GPUS", "REGION", "PROVIDER", "SERVES", "ENABLED"),
        *("TARGET", "READY", "ACQUIRING", "CLAIMED", "COST"),
    )
    rows = [
        (
            s.pool.id,
            f"{s.pool.gpu_count}x {s.pool.gpu_type}",
            s.pool.region,
            s.pool.provider,
            pool_owner(s.pool),
            "yes" if s.pool.enabled else "no",
            str(s.pool.target),
            str(s.ready),
            str(s.acquiring),
            str(s.claimed),
            cents(s.cost_cents),
        )
        for s in pools
    ]
    return table(headers, rows)


def pool_owner(pool: admin_pb2.WarmPool) -> str:
    """Whose instances a pool serves: one team, or every team (shared)."""
    return "shared" if pool.shared else f"team {pool.team_id}"


def pool_line(pool: admin_pb2.WarmPool, what: str) -> str:
    state = "enabled" if pool.enabled else "disabled"
    return (
        f"warm pool {pool.id} {what}: {pool.gpu_count}x {pool.gpu_type} in {pool.region} "
        f"({pool.provider}) for {pool_owner(pool)}, target {pool.target}, {state}"
    )


def pool_status(status: admin_pb2.WarmPoolStatus) -> str:
    pool = status.pool
    return details(
        [
            ("id", pool.id),
            ("gpus", f"{pool.gpu_count}x {pool.gpu_type} in {pool.region} ({pool.provider})"),
            ("serves", pool_owner(pool)),
            ("enabled", "yes" if pool.enabled else "no"),
            ("target", str(pool.target)),
            ("max idle", f"{pool.max_idle_s} s" if pool.max_idle_s else "never released"),
            ("ready", str(status.ready)),
            ("acquiring", str(status.acquiring)),
            ("releasing", str(status.releasing)),
            ("claimed", str(status.claimed)),
            ("standby time", f"{status.standby_seconds:.0f} s"),
            ("standby cost", cents(status.cost_cents)),
        ]
    )


def standbys_table(hosts: Sequence[admin_pb2.StandbyHost]) -> str:
    headers = ("ID", "POOL", "STATE", "HOST", "GPUS", "REGION", "PREFETCHED", "SINCE")
    rows = [
        (
            h.id,
            h.pool_id,
            h.state,
            h.host_id or "-",
            f"{h.gpu_count}x {h.gpu_type}",
            h.region,
            str(len(h.prefetched)),
            age(h.acquired_at if h.HasField("acquired_at") else h.created_at),
        )
        for h in hosts
    ]
    return table(headers, rows)


def savings_summary(summary: admin_pb2.SavingsSummary) -> str:
    scope = f"team {summary.team_id}" if summary.team_id else "every team"
    return details([("period", f"{summary.period} ({scope})"), *_amounts(summary.amounts)])


def _amounts(amounts: admin_pb2.SavingsAmounts) -> list[tuple[str, str]]:
    money = amounts.currency
    return [
        ("running hours", amounts.running_hours),
        ("hibernated hours", amounts.hibernated_hours),
        ("compute cost", f"{amounts.compute_cost} {money}"),
        ("standby cost", f"{amounts.standby_cost} {money}"),
        ("storage cost", f"{amounts.storage_cost} {money}"),
        ("saved (gross)", f"{amounts.saved_gross} {money}"),
        ("saved", f"{amounts.saved} {money}"),
    ]


SAVINGS_COLUMNS = ("RUNNING H", "HIBERNATED H", "COMPUTE", "STANDBY", "STORAGE", "SAVED")


def _amount_cells(amounts: admin_pb2.SavingsAmounts) -> tuple[str, ...]:
    return (
        amounts.running_hours,
        amounts.hibernated_hours,
        amounts.compute_cost,
        amounts.standby_cost,
        amounts.storage_cost,
        f"{amounts.saved} {amounts.currency}",
    )


def savings_breakdown(breakdown: admin_pb2.SavingsBreakdown) -> str:
    parts = []
    for title, groups in (("GPU TYPE", breakdown.by_gpu_type), ("INSTANCE", breakdown.by_instance)):
        rows = [(g.key, *_amount_cells(g.amounts)) for g in groups]
        parts.append(table((title, *SAVINGS_COLUMNS), rows) if rows else f"no {title.lower()}s")
    return f"period {breakdown.period}\n\n" + "\n\n".join(parts)


def savings_history(months: Sequence[admin_pb2.SavingsMonth]) -> str:
    rows = [(m.month, *_amount_cells(m.amounts)) for m in months]
    return table(("MONTH", *SAVINGS_COLUMNS), rows) if rows else "no months"


def savings_comparison(comparison: admin_pb2.SavingsComparison) -> str:
    scope = f"team {comparison.team_id}" if comparison.team_id else "every team"
    money = comparison.currency
    version = f"v{comparison.reference_version}, retrieved {comparison.reference_retrieved}"
    pairs = [
        ("gpu type", f"{comparison.gpu_type} ({scope})"),
        ("running GPU-hours", comparison.running_gpu_hours),
        ("hibernated GPU-hours", comparison.hibernated_gpu_hours),
        ("ours", f"{comparison.ours} {money}"),
        ("reference prices", f"{version} (sources: -o json)"),
    ]
    headers = (
        *("CLOUD", "REGION", "INSTANCE TYPE", f"{money}/GPU-H"),
        *("SAME RUNNING HOURS", "ALWAYS ON", "AS OF"),
    )
    rows = [
        (
            *(r.cloud, r.region, r.instance_type, r.per_gpu_hour),
            *(r.same_running_hours, r.always_on, r.as_of),
        )
        for r in comparison.references
    ]
    return f"{details(pairs)}\n\n{table(headers, rows)}"
