"""What the savings routes answer: amounts as strings rounded to the cent ("12.34"), with
the currency and the rounding rule; hours as exact decimal strings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .money import CURRENCY, ROUNDING_RULE, present
from .report import Totals


@dataclass(frozen=True)
class Amounts:
    running_hours: str
    hibernated_hours: str
    compute_cost: str
    """What the hosts cost while held (running, provisioning, waking, hibernating)."""
    standby_cost: str
    """This share of warm standbys."""
    storage_cost: str
    saved_gross: str
    """Hibernated hours at the price of the host each hibernation left."""
    saved: str
    """saved_gross - standby_cost - storage_cost."""
    currency: str = CURRENCY
    rounding: str = ROUNDING_RULE


def amounts_of(totals: Totals) -> Amounts:
    return Amounts(
        running_hours=str(totals.running_hours.normalize()),
        hibernated_hours=str(totals.hibernated_hours.normalize()),
        compute_cost=present(totals.compute_cost),
        standby_cost=present(totals.standby_cost),
        storage_cost=present(totals.storage_cost),
        saved_gross=present(totals.saved_gross),
        saved=present(totals.saved),
    )


@dataclass(frozen=True)
class Summary:
    period: str
    since: datetime | None
    until: datetime
    amounts: Amounts


@dataclass(frozen=True)
class Month:
    month: str
    """YYYY-MM (UTC)."""
    amounts: Amounts


@dataclass(frozen=True)
class GroupAmounts:
    key: str
    """The GPU type, or the instance id."""
    amounts: Amounts


@dataclass(frozen=True)
class Breakdown:
    period: str
    by_gpu_type: list[GroupAmounts]
    by_instance: list[GroupAmounts]


@dataclass(frozen=True)
class CloudReference:
    cloud: str
    region: str
    instance_type: str
    per_gpu_hour: str
    same_running_hours: str
    """What the running GPU-hours would have cost there, on demand."""
    always_on: str
    """What keeping the machines up the whole time (running + hibernated) would cost."""
    source: str
    """The document that states the price."""
    as_of: str
    """The date that document states (the file's `retrieved` date when it states none)."""


@dataclass(frozen=True)
class Comparison:
    gpu_type: str
    running_gpu_hours: str
    hibernated_gpu_hours: str
    ours: str
    """What the team paid for that GPU type: hosts, standby share, storage."""
    references: list[CloudReference]
    reference_version: int
    reference_retrieved: str
    currency: str = CURRENCY


@dataclass(frozen=True)
class HibernationDay:
    day: str
    """YYYY-MM-DD (UTC)."""
    hibernations: int
    """Hibernations that began that day."""
    wakes: int
    """Hibernations that ended that day with the instance running again."""
    hibernated_seconds: float
    """Total length of the hibernations that ended that day."""


@dataclass(frozen=True)
class IntervalView:
    kind: str
    started_at: datetime
    ended_at: datetime | None
    host_id: str | None
    price: str
    """Exact, per hour (per GB-month for storage)."""
    amount: str
    """Cost (saving for hibernated) to the cent."""


@dataclass(frozen=True)
class InstanceSavings:
    instance_id: str
    amounts: Amounts
    intervals: list[IntervalView]
