"""Which snapshots a retention policy forgets: a pure function, applied per instance.

Like restic's `forget --keep-last/--keep-daily/--keep-weekly`: a snapshot is kept when any
rule keeps it. Keep-forever snapshots and the instance's latest (the way back from
hibernation) are never forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime

from .schemas import RetentionPolicy


@dataclass(frozen=True)
class Candidate:
    id: str
    created_at: datetime
    keep_forever: bool


def _newest_per_bucket(
    newest_first: list[Candidate], buckets: int, bucket: Callable[[datetime], Hashable]
) -> set[str]:
    kept: dict[Hashable, str] = {}
    for snapshot in newest_first:
        key = bucket(snapshot.created_at)
        if key not in kept:
            if len(kept) == buckets:
                break
            kept[key] = snapshot.id
    return set(kept.values())


def to_forget(
    snapshots: Iterable[Candidate], policy: RetentionPolicy, protected: set[str]
) -> list[str]:
    """Ids to forget, oldest first."""
    newest_first = sorted(snapshots, key=lambda s: (s.created_at, s.id), reverse=True)
    kept = {s.id for s in newest_first[: policy.keep_last]}
    kept |= _newest_per_bucket(newest_first, policy.keep_daily, lambda at: at.date())
    kept |= _newest_per_bucket(newest_first, policy.keep_weekly, lambda at: at.isocalendar()[:2])
    kept |= {s.id for s in newest_first if s.keep_forever} | protected
    return [s.id for s in reversed(newest_first) if s.id not in kept]
