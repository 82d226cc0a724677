"""Which snapshots `forget` keeps: last N, one per day or week for N periods, and pins.

Policies apply per group (host + workspace), like restic's `--group-by host,paths`, so a
busy host cannot push another host's snapshots out of "keep last 5".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .repository import SnapshotInfo


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0

    @property
    def empty(self) -> bool:
        return not (self.keep_last or self.keep_daily or self.keep_weekly)


def to_keep(snapshots: list[SnapshotInfo], policy: RetentionPolicy) -> set[str]:
    """The ids the policy keeps (pinned ones always); `snapshots` oldest first."""
    groups: dict[tuple[str, str], list[SnapshotInfo]] = defaultdict(list)
    for info in snapshots:
        groups[(info.manifest.hostname, info.manifest.workspace)].append(info)
    keep = {info.id for info in snapshots if info.pinned}
    for members in groups.values():
        newest_first = sorted(members, key=lambda i: i.manifest.time, reverse=True)
        keep.update(info.id for info in newest_first[: policy.keep_last])
        keep.update(_one_per_period(newest_first, policy.keep_daily, _day))
        keep.update(_one_per_period(newest_first, policy.keep_weekly, _week))
    return keep


def _one_per_period(
    newest_first: list[SnapshotInfo], periods: int, period_of: Callable[[datetime], str]
) -> set[str]:
    kept: set[str] = set()
    seen: set[str] = set()
    for info in newest_first:
        if len(seen) >= periods:
            break
        period = period_of(datetime.fromisoformat(info.manifest.time))
        if period not in seen:
            seen.add(period)
            kept.add(info.id)  # the newest snapshot of each period
    return kept


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"
