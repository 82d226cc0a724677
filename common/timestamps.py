"""Conversions between aware datetimes and protobuf Timestamps.

Everything torpor stores or sends is UTC; a naive datetime is a bug, so it is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_timestamp(moment: datetime) -> Timestamp:
    """Raises ValueError for a naive datetime (its zone would be a guess)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: torpor only handles aware UTC datetimes")
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)
