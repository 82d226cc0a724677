"""Retention: keep-last/daily/weekly, keep-forever and the latest never forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from torpor.controlplane.instances.retention import Candidate, to_forget
from torpor.controlplane.instances.schemas import RetentionPolicy

pytestmark = pytest.mark.unit
START = datetime(2026, 11, 2, 12, tzinfo=UTC)  # a Monday


def hourly(count: int, every: timedelta = timedelta(hours=1)) -> list[Candidate]:
    return [Candidate(f"s{i:03}", START + i * every, False) for i in range(count)]


def test_keep_last_forgets_the_oldest_first() -> None:
    policy = RetentionPolicy(keep_last=3, keep_daily=0, keep_weekly=0)
    assert to_forget(hourly(5), policy, set()) == ["s000", "s001"]


def test_keep_daily_keeps_the_newest_of_each_day() -> None:
    snapshots = hourly(72, timedelta(hours=1))  # three days from noon
    policy = RetentionPolicy(keep_last=1, keep_daily=3, keep_weekly=0)
    kept = {s.id for s in snapshots} - set(to_forget(snapshots, policy, set()))
    # the newest of the last three days: 11:00 of day 4, 23:00 of days 3 and 2
    assert kept == {"s071", "s059", "s035"}


def test_keep_weekly() -> None:
    snapshots = hourly(4, timedelta(days=7))
    policy = RetentionPolicy(keep_last=1, keep_daily=0, keep_weekly=2)
    assert to_forget(snapshots, policy, set()) == ["s000", "s001"]


def test_keep_forever_and_protected_are_never_forgotten() -> None:
    snapshots = hourly(4)
    snapshots[0] = Candidate("s000", START, keep_forever=True)
    policy = RetentionPolicy(keep_last=1, keep_daily=0, keep_weekly=0)
    assert to_forget(snapshots, policy, {"s001"}) == ["s002"]
